# The device app: state machine, button, LED, log, connectivity, and the task wiring.
