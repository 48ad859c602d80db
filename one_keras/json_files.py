"""JSON files a run writes and reads back: written atomically, read safely.
"""

import json
import os


def read_json(path):
    """The dict in the JSON file `path`, or `None` if unreadable.

    Args:
        path: str. A JSON file.

    Returns:
        A dict, or `None` when the file is missing, truncated or not an
        object.
    """
    try:
        with open(path) as handle:
            payload = json.load(handle)
    except (OSError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def write_json(path, payload, temporary=None):
    """Writes `payload` to `path` atomically (temporary file, fsync,
    rename), so a kill never leaves half a file.

    Args:
        path: str. The JSON file.
        payload: A JSON-serialisable object.
        temporary: str or `None`. The temporary file; `None` is
            `path.tmp` (a run's killed save leaves that name, which its
            next start removes). Writers that may run at once each pass
            their own, and one that fails is removed.
    """
    if temporary is None:
        temporary = f"{path}.tmp"
    try:
        with open(temporary, "w") as handle:
            json.dump(payload, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
