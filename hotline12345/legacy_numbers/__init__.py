"""The register of retired provincial hotlines and the phase of each number."""

from hotline12345.legacy_numbers.model import AfterCutover, Mode, Phase, RegisterRow

__all__ = ["AfterCutover", "Mode", "Phase", "RegisterRow"]
