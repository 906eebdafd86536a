"""The C artifact API this runtime calls, and the one line for bundles made before it."""
from __future__ import annotations

import re

from ...errors import BundleError


def require_current_api(header_text: str, prefix: str, name: str) -> None:
    """Refuse, in one line, a header of the older API whose ``<prefix>_step`` / ``_run`` returned
    void: every caller here adds up their int return (the samples whose dt was saturated), so such
    an artifact would not compile, and the compiler's message would not say what to do."""
    if re.search(rf"\bvoid\s+{re.escape(prefix)}_(step|run)\s*\(", header_text):
        raise BundleError(f"artifact {name} was exported by an older edgelnn: its C API returns void "
                          f"(now {prefix}_step/_run return the number of samples whose dt was out of "
                          "range); re-export the bundle with `edgelnn export`")
