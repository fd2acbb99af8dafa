"""Virtual hardware for the host: clocks and machine-module stand-ins with real buffer semantics.

clock.RealClock / clock.VirtualClock: the time source every fake reads.
i2s.make_i2s(clock, sources): a `machine.I2S` class bound to a clock (and mic sources per bus).
The simulator assembles its fake `machine` module from these plus Pin etc.
"""
