"""Alert evaluation in the stream: metrics from the rollups, the rule state machine, the engine and delivery."""
