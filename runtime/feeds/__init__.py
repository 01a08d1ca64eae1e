"""Where records come from and where outputs go: files, stdin, the demo, MQTT, serial, UDP.

records (parsing), options (what live feeds share), live (the one source dispatcher),
sinks (the one sink dispatcher), dedup, synth.
"""
