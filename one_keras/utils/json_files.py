"""JSON files a run writes and reads back: written atomically, read safely.
"""

import json

from one_keras.utils import atomic_files


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
    rename: `one_keras.utils.atomic_files.open_replacing`), so a kill never
    leaves half a file and a link at `path` is replaced, not followed.

    Args:
        path: str. The JSON file.
        payload: A JSON-serialisable object.
        temporary: str or `None`. The temporary file; `None` is
            `path.tmp` (a run's killed save leaves that name, which its
            next start removes). Writers that may run at once each pass
            their own, and one that fails is removed.
    """
    with atomic_files.open_replacing(path, "w", temporary) as handle:
        json.dump(payload, handle, indent=2, sort_keys=True)
