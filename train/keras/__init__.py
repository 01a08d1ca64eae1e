"""Keras models in, edgernn streaming graphs out: ``edgernn import keras`` (the keras extra:
h5py and onnx; neither Keras, TensorFlow nor torch is needed to convert).

``archive`` reads a ``.keras`` zip (config.json + model.weights.h5) or a legacy ``.h5`` file
into a chain of ``layers.Layer``; ``reference`` runs them in numpy with Keras' own formulas;
``graph`` writes them as one ONNX graph with the recurrent state as explicit inputs and
outputs; ``convert`` checks the graph against the reference and writes it with its signature;
``scaling`` makes the signature's scalers from the command's flags; ``against`` (Keras
installed) compares an imported graph with Keras itself, for ``edgernn verify --keras``.
"""
