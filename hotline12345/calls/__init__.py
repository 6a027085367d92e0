"""The call store: one row per call, keyed by Asterisk's uniqueid."""
