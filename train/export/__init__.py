"""Export and check graphs for every task: the verified exporter (``graph``), its parity runs
(``parity``), int8 / fp16 reduction (``quantize``, ``reduced``) and ``edgernn verify``'s checks
against a checkpoint (``checks``, ``verify``)."""
