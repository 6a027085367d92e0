"""Asterisk configuration rendered from the site file, checked, and the prompt audio.

- :func:`render` writes extensions.conf, queues.conf, manager.conf and pjsip.conf;
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
