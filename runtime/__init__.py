"""edgernn: run recurrent neural networks statefully, step by step, on live data.

>>> import edgernn
>>> model = edgernn.load()              # the shipped default sensor forecaster
>>> s = model.stream()
>>> out = s.step({"temp": 21.0, "humidity": 55.0})
>>> sorted(out.forecast)
['temp']
>>> s.forecast(3).shape                 # 3 steps ahead, on a fork of the state
(3, 1)
"""

from edgernn.core.model import Model, default_model_path, load
from edgernn.core.pool import BatchResult, Pool
from edgernn.core.stream import StepResult, Stream
from edgernn.core.window import WindowStream
from edgernn.errors import (
    DataError,
    EdgernnError,
    ExportError,
    ModelError,
    ProviderError,
    RecordError,
    SignatureError,
    StateError,
    UsageError,
)
from edgernn.signature import Scaler, Signature, StateSpec, TensorSpec, Tokenizer
from edgernn.tasks.classify import ClassifierStream
from edgernn.tasks.generate import Generator
from edgernn.tasks.music import MusicGenerator, Note
from edgernn.tasks.registry import TASKS, task_of
from edgernn.tasks.seq2seq import Seq2Seq
from edgernn.tasks.tag import Tagger
from edgernn.version import __version__ as __version__

__all__ = [
    "load",
    "Model",
    "Stream",
    "StepResult",
    "Pool",
    "BatchResult",
    "WindowStream",
    "ClassifierStream",
    "Generator",
    "MusicGenerator",
    "Note",
    "Seq2Seq",
    "Tagger",
    "TASKS",
    "task_of",
    "default_model_path",
    "Signature",
    "StateSpec",
    "TensorSpec",
    "Scaler",
    "Tokenizer",
    "EdgernnError",
    "ModelError",
    "SignatureError",
    "ProviderError",
    "DataError",
    "RecordError",
    "StateError",
    "ExportError",
    "UsageError",
]
