"""hotline12345: call routing and Asterisk control for the 12345 government-service hotline."""

__version__ = "0.1.0"
