"""Where records come from and where outputs go: files, stdin, the demo, MQTT, serial, UDP.

records (parsing), protocols (``Source``, ``LiveSource``), options (what live feeds share),
live (the one source dispatcher), sinks (the one sink dispatcher), files (files, stdin, the
demo), keys (key identity), mqtt / mqtt_source / mqtt_sink, replay (what the sink sends again
after a reconnection), serial, udp, dedup (recent values), synth.
"""
