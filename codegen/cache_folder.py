"""The kernel cache folder: who may write it, private files in it, its size.

Whoever can write to the folder could make the next process run code (Numba's
cache files are pickles, bytecode is code), so ``prepare`` refuses a folder
others can write, files are read and written without following symbolic
links, everything written is private to the user (0o600 files, 0o700
folders, whatever the umask), and what is run or unpickled is signed
(``write_signed``, ``read_signed``: HMAC-SHA256 under the folder's random
``secret``, which only the user can read). ``added`` keeps the folder under a
size limit, evicting the least recently used entries. POSIX only in its
checks: where there are no user ids (Windows) the ownership and mode checks
are skipped.

An entry is every file whose name starts ``kernel_<32 hex digits>``: the
module ``kernel_<key>.py`` and, in ``__pycache__``, Numba's index
(``.nbi``), machine code (``.nbc``) and anything else of that name. The
machine code of the helpers kernels call (``codegen.vmath``, ...; see
``numba_internals.helper``) is in ``__pycache__`` too, under the helper's
module and function name: a fixed set of files, never evicted.

Where the folder is by default follows the platform (``user_cache_folder``);
``clear`` deletes what was written there.
"""
import contextlib
import hashlib
import hmac
import math
import os
import stat
import sys
import tempfile
import time
import warnings

PYCACHE = "__pycache__"
SIZE_FILE = os.path.join(PYCACHE, "cache-size")  # "<estimated bytes> <time of last count>"
SECRET_FILE = os.path.join(PYCACHE, "cache-secret")  # 32 random bytes
MAC_BYTES = 32
DEFAULT_MAX_MB = 512
GRACE_SECONDS = 300  # an entry used (or being written) this recently is never evicted
STALE_SECONDS = 3600  # a temporary file this old was left by a crash
LOW_WATER = 0.9  # eviction goes down to this fraction of the limit
RECOUNT_SECONDS = 86400  # the estimate is recounted at least this often

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # opening a planted FIFO must not hang


def user_cache_folder(name):
    """The platform's per-user cache folder for the application ``name``:
    ``$XDG_CACHE_HOME/<name>`` (when set to an absolute path) else
    ``~/.cache/<name>`` on Linux and other POSIX systems,
    ``~/Library/Caches/<name>`` on macOS, ``%LOCALAPPDATA%\\<name>\\Cache``
    on Windows. Nothing is made.

    >>> os.path.basename(user_cache_folder("symgrad")) in ("symgrad", "Cache")
    True
    """
    home = os.path.expanduser("~")
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
        return os.path.join(local, name, "Cache")
    if sys.platform == "darwin":
        return os.path.join(home, "Library", "Caches", name)
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # the XDG spec: a relative path is invalid and must be ignored
    return os.path.join(xdg if os.path.isabs(xdg) else os.path.join(home, ".cache"), name)


class UnsafeFolder(Exception):
    """The folder, or a folder above it, can be written by someone else."""


def _uid():
    return os.geteuid() if hasattr(os, "geteuid") else None


def _trusted_owner(st, uid):
    return uid is None or st.st_uid in (uid, 0)


def _check_chain(real, uid):
    """Raise ``UnsafeFolder`` unless ``real`` (a resolved path) is the user's own
    folder, writable by nobody else, and every folder above it is the user's or
    root's and writable by nobody else (or sticky, as /tmp: others cannot
    rename or delete what is not theirs)."""
    if uid is None:
        return
    st = os.stat(real)
    if st.st_uid != uid:
        raise UnsafeFolder(f"it is owned by user {st.st_uid}, not by you (user {uid})")
    if st.st_mode & 0o022:
        raise UnsafeFolder(f"it is writable by others (mode {stat.S_IMODE(st.st_mode):o}); "
                           f"'chmod go-w {real}' if nobody else has written to it, "
                           "or use another folder")
    folder = real
    while True:
        parent = os.path.dirname(folder)
        if parent == folder:
            return
        folder = parent
        st = os.stat(folder)
        if st.st_uid not in (uid, 0):
            raise UnsafeFolder(f"the folder above it, {folder!r}, is owned by user "
                               f"{st.st_uid}, who could replace it")
        if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
            raise UnsafeFolder(f"the folder above it, {folder!r}, is writable by others "
                               f"(mode {stat.S_IMODE(st.st_mode):o}), who could replace it")


def _mkdir_private(path):
    """Make the folder ``path`` with mode 0o700; False if it was already there."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        return False
    os.chmod(path, 0o700)  # in case the umask took owner bits away
    return True


def private_folder(path):
    """Make ``path`` (a folder symgrad owns, as ``__pycache__``) a private folder
    of the user: made if missing, a symbolic link or file in its place
    removed first, its mode set to 0o700 (and, if it was not, the files in it
    to 0o600). Raises ``UnsafeFolder`` if it belongs to someone else."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        _mkdir_private(path)
        return
    if not stat.S_ISDIR(st.st_mode):  # a symbolic link, a file: never followed
        os.unlink(path)
        _mkdir_private(path)
        return
    uid = _uid()
    if uid is not None and st.st_uid != uid:
        raise UnsafeFolder(f"{path!r} is owned by user {st.st_uid}")
    if stat.S_IMODE(st.st_mode) != 0o700:  # an older cache's: its files were readable too
        os.chmod(path, 0o700)
        with os.scandir(path) as listing:
            for item in listing:
                with contextlib.suppress(OSError):
                    if (item.is_file(follow_symlinks=False)
                            and item.stat(follow_symlinks=False).st_mode & 0o077):
                        os.chmod(item.path, 0o600)


def prepare(folder):
    """The resolved path of the cache ``folder``, made if missing (each new
    folder 0o700) and checked: raises ``UnsafeFolder`` if someone else can
    write it (see ``_check_chain``), ``OSError`` if it cannot be made. Its
    ``__pycache__`` is made private too."""
    folder = os.path.abspath(folder)
    missing = []
    probe = folder
    while not os.path.lexists(probe):
        missing.append(probe)
        probe = os.path.dirname(probe)
    for path in reversed(missing):
        _mkdir_private(path)
    real = os.path.realpath(folder)  # every later path is below a checked, link-free one
    _check_chain(real, _uid())
    private_folder(os.path.join(real, PYCACHE))
    return real


def read_private(path):
    """The bytes of the regular file ``path``, or None when there is none. A
    symbolic link, a non-regular file or one owned by another user (not root)
    is deleted, never read; a file others could read is made private."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError:
        if not os.path.islink(path):
            raise
        _remove(path)
        return None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or not _trusted_owner(st, _uid()):
            _remove(path)
            return None
        if st.st_mode & 0o077 and hasattr(os, "fchmod"):
            with contextlib.suppress(OSError):
                os.fchmod(fd, 0o600)
        return f.read()


@contextlib.contextmanager
def private_file(path):
    """Write ``path`` atomically as a private file: yields a binary file
    object for a fresh temporary file (mode 0o600) beside it, which then
    replaces ``path``; a symbolic link at ``path`` is replaced, not followed."""
    folder, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=name + ".", suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # mkstemp's mode, whatever the umask
        with os.fdopen(fd, "wb") as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_once(path, data):
    """Write ``data`` (bytes) to ``path`` unless it already holds exactly that;
    True if written. Anything else at ``path`` (other bytes, a symbolic link,
    another user's file) is replaced."""
    if read_private(path) == data:
        return False
    with private_file(path) as f:
        f.write(data)
    return True


def secret(folder):
    """The 32 random bytes that sign what is written in the cache ``folder`` (a
    path from ``prepare``), made on first use as a private file. Processes
    racing to make it agree on one: it is linked into place, never replaced."""
    path = os.path.join(folder, SECRET_FILE)
    for _ in range(3):
        data = read_private(path)
        if data is not None and len(data) == MAC_BYTES:
            return data
        if data is not None:  # not a secret symgrad made: start again
            _remove(path)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix="cache-secret.",
                                   suffix=".tmp")
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(os.urandom(MAC_BYTES))
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process made it first: read theirs
            except OSError:  # no hard links here: last writer wins (others recompile once)
                os.replace(tmp, path)
        finally:
            _remove(tmp)
    raise OSError(f"cannot make the cache secret {path!r}")


def _mac(key, label, payload):
    mac = hmac.new(key, len(label).to_bytes(4, "big") + label, hashlib.sha256)
    mac.update(payload)
    return mac.digest()


def write_signed(path, key, label, payload):
    """Write ``payload`` to ``path`` as a private file, prefixed with its
    HMAC-SHA256 under ``key`` (from ``secret``) and ``label`` (what the
    payload is, so that a signed file cannot stand in for another). Returns
    the bytes written."""
    with private_file(path) as f:
        f.write(_mac(key, label, payload))
        f.write(payload)
    return MAC_BYTES + len(payload)


def read_signed(path, key, label):
    """The payload ``write_signed`` wrote to ``path`` with ``key`` and ``label``,
    or None: missing, not a private regular file (see ``read_private``), or
    not signed so (planted, damaged, or from another folder or format)."""
    data = read_private(path)
    if data is None or len(data) < MAC_BYTES:
        return None
    payload = memoryview(data)[MAC_BYTES:]
    if not hmac.compare_digest(data[:MAC_BYTES], _mac(key, label, payload)):
        return None
    return payload


def touch(path):
    """Mark ``path`` (an entry's index) as just used, for eviction; a symbolic
    link's own time, never its target's."""
    with contextlib.suppress(OSError):
        if os.utime in os.supports_follow_symlinks:
            os.utime(path, follow_symlinks=False)
        elif not os.path.islink(path):
            os.utime(path)


def _remove(path):
    with contextlib.suppress(OSError):  # gone already, or a folder: a miss all the same
        os.unlink(path)


# --- size limit ----------------------------------------------------------------

_warned_limit = set()


def limit_bytes():
    """The cache's size limit in bytes: ``$SYMGRAD_CACHE_MAX_MB`` MiB (a number
    >= 0, ``inf`` for none), else 512 MiB."""
    text = os.environ.get("SYMGRAD_CACHE_MAX_MB", "").strip()
    if not text:
        return DEFAULT_MAX_MB * 2**20
    try:
        mb = float(text)
    except ValueError:
        mb = math.nan
    if not mb >= 0:
        if text not in _warned_limit:
            _warned_limit.add(text)
            warnings.warn(f"SYMGRAD_CACHE_MAX_MB={text!r} is not a size in MiB (a number "
                          f">= 0, or inf); using {DEFAULT_MAX_MB}", RuntimeWarning,
                          stacklevel=2)
        return DEFAULT_MAX_MB * 2**20
    return mb * 2**20


def entry_key(name):
    """The key of the entry the file ``name`` belongs to, or None."""
    if not name.startswith("kernel_") or len(name) < 39:
        return None
    key = name[7:39]
    return key if all(c in "0123456789abcdef" for c in key) else None


def _read_size_file(folder):
    data = read_private(os.path.join(folder, SIZE_FILE))
    try:
        total, counted = data.split()
        return int(total), float(counted)
    except (AttributeError, ValueError):
        return None


def _write_size_file(folder, total, counted):
    with contextlib.suppress(OSError):
        with private_file(os.path.join(folder, SIZE_FILE)) as f:
            f.write(f"{int(total)} {counted!r}\n".encode())


def added(folder, nbytes, keep):
    """Account for ``nbytes`` just written to the entry ``keep`` in the cache
    ``folder`` (a path from ``prepare``), evicting if the cache is over its
    limit. Cheap: the folder is counted only when the running estimate in
    ``__pycache__/cache-size`` passes the limit (or is missing, or a day
    old). Never
    raises: a cache that cannot be trimmed still works."""
    limit = limit_bytes()
    if limit == math.inf:
        return
    try:
        now = time.time()
        known = _read_size_file(folder)
        if known is not None and known[0] + nbytes <= limit and now - known[1] < RECOUNT_SECONDS:
            _write_size_file(folder, known[0] + nbytes, known[1])
            return
        total = evict(folder, limit, keep={keep}, now=now)
        _write_size_file(folder, total, now)
    except OSError:
        pass


def _scan(folder, now):
    """``{key: [bytes, last use, paths]}`` of the entries in ``folder``, and the
    bytes of temporary files; deletes temporary files left by crashes."""
    entries, other = {}, 0
    for sub in (folder, os.path.join(folder, PYCACHE)):
        try:
            listing = os.scandir(sub)
        except FileNotFoundError:
            continue
        with listing:
            for item in listing:
                key = entry_key(item.name)
                temporary = ".tmp" in item.name
                if key is None and not (temporary and item.name.startswith(
                        ("cache-size.", "cache-secret."))):
                    continue
                try:
                    st = item.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if temporary:  # being written by someone, unless very old
                    if now - st.st_mtime > STALE_SECONDS:
                        _remove(item.path)
                    else:
                        other += st.st_size
                    continue
                entry = entries.setdefault(key, [0, 0.0, []])
                entry[0] += st.st_size
                entry[1] = max(entry[1], st.st_mtime)
                entry[2].append(item.path)
    return entries, other


def _deletion_order(path):
    # the index first (a reader then sees a miss, not an index naming missing
    # machine code), the module last
    return (0 if path.endswith(".nbi") else 2 if path.endswith(".py") else 1)


def evict(folder, limit, keep=(), now=None, grace=None):
    """Delete least recently used entries (by the newest modification time of
    their files; a load touches the index) until the cache ``folder`` is
    at most ``LOW_WATER`` of ``limit`` bytes, if it is over ``limit``. Entries
    in ``keep`` and those used in the last ``grace`` seconds stay. Returns the
    bytes left. Safe against other processes doing the same at once."""
    now = time.time() if now is None else now
    grace = GRACE_SECONDS if grace is None else grace
    entries, total = _scan(folder, now)
    total += sum(size for size, _, _ in entries.values())
    if total <= limit:
        return total
    for key, (size, used, paths) in sorted(entries.items(), key=lambda kv: kv[1][1]):
        if total <= limit * LOW_WATER:
            break
        if key in keep or now - used < grace:
            continue
        for path in sorted(paths, key=_deletion_order):
            with contextlib.suppress(OSError):
                os.unlink(path)
        total -= size
    return total


def clear(folder):
    """Delete what is written in the cache ``folder``: its entries' modules
    (``kernel_<key>.py``) and every file in its ``__pycache__`` (the cache's
    own folder: bytecode, Numba's files, the secret, the size estimate), then
    the two folders if nothing else is left in them; other files stay.
    Symbolic links are deleted, never followed. Returns the number of files
    deleted and their bytes. Processes using the folder meanwhile see misses
    and compile again.

    >>> import tempfile
    >>> folder = prepare(tempfile.mkdtemp())
    >>> write_once(os.path.join(folder, "kernel_" + "0" * 32 + ".py"), b"pass")
    True
    >>> clear(folder), os.path.exists(folder)
    ((1, 4), False)
    """
    paths = []
    for sub, ours in ((os.path.join(folder, PYCACHE), lambda name: True),
                      (folder, lambda name: entry_key(name) is not None)):
        with contextlib.suppress(FileNotFoundError, NotADirectoryError), os.scandir(sub) as listing:
            paths += [item.path for item in listing
                      if ours(item.name) and not item.is_dir(follow_symlinks=False)]
    count = size = 0
    for path in sorted(paths, key=_deletion_order):
        with contextlib.suppress(OSError):
            nbytes = os.lstat(path).st_size
            os.unlink(path)
            count, size = count + 1, size + nbytes
    for sub in (os.path.join(folder, PYCACHE), folder):
        with contextlib.suppress(OSError):  # not empty: something else lives there
            os.rmdir(sub)
    return count, size
