"""Where records come from and where outputs go: files, stdin, the demo, MQTT, serial, UDP.

records (parsing), protocols (``Source``, ``LiveSource``), options (what live feeds share),
live (the one source dispatcher), sinks (the one sink dispatcher), files (files, stdin, the
demo), mqtt / mqtt_source / mqtt_sink, serial, udp, dedup (recent values), synth.
"""
