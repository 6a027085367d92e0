"""Asterisk configuration rendered from the site file, checked, and the prompt audio.

- :func:`render` writes the ``*_hotline12345.conf`` files of ``CONF_FILES`` (dialplan, queues,
  AMI user, trunks, conference profiles), which the host's own files ``#include``;
- :func:`check_dir` runs asterisklint and hotline12345's own cross-checks over a rendered
  directory;
- :func:`build_prompts` turns every prompt into 8 kHz audio Asterisk plays.
"""

from hotline12345.asterisk.names import CONF_FILES, trunk_context
from hotline12345.asterisk.prompts import PromptBuildError, build_prompts, catalogue
from hotline12345.asterisk.render import Rendered, RenderError, RenderOptions, render

__all__ = [
    "CONF_FILES",
    "PromptBuildError",
    "RenderError",
    "RenderOptions",
    "Rendered",
    "build_prompts",
    "catalogue",
    "render",
    "trunk_context",
]
