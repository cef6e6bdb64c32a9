"""Model files: ``write_dl_model`` and ``read_dl_model`` (HALCON's operators of these names).

A model file is a NumPy ``.npz`` archive (a zip of ``.npy`` members, stored uncompressed, so
``numpy.load(path)`` opens it too) with one JSON member besides the arrays::

    model.json              {"format": "halcon_dl.model", "version": 1, "type": ..., "seed": ...,
                             "params": {every parameter of the model},
                             "layout": [array entry of each network parameter, then each buffer],
                             "optimizer": {"name": "sgd" | "adam", "scalars": {...},
                                           "arrays": [array entry of each state array]},
                             "rng": the state of the model's random generator}
    parameter/<name>.npy    each network parameter (weights, biases, BatchNorm scale and shift)
    buffer/<name>.npy       each buffer (BatchNorm running mean and variance)
    optimizer/<key>.npy     each optimiser state array ('velocity.<name>'; 'm.<name>', 'v.<name>')

An array entry is ``{"kind", "name", "shape", "dtype", "sha256"}`` (the digest of the array's
bytes in C order); the optimiser's scalars are Adam's step count ``{"t": n}`` and none for SGD.
Nothing in the format is specific to a model type: a model is rebuilt from its type, seed and
parameters (every parameter that is not read-only is passed at creation, so no ``set_param``
side effect runs), its network must have exactly the stored layout, and the arrays are then
replaced.  The same bytes are written for the same model (fixed member dates), so a model read
back and written again gives an identical file.

Writing goes to a temporary file next to ``path`` that is flushed to disk and renamed over
``path``: a crash leaves either the old file or the new one, and a failed write removes its
temporary file.  Reading never unpickles (``allow_pickle`` is never set) and never evaluates
anything from the file; it checks the format name and version, the JSON schema (exact keys and
types), every parameter (through the parameter table), the layout against the rebuilt network,
each array's header, size, digest and finiteness, the optimiser state against the parameters and
the generator state, and raises :class:`HalconDLError` naming what is wrong.  An array header
is checked against the layout before anything is allocated, and members are read only when
stored uncompressed, so a declared size can never exceed what the file holds.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import zipfile

import numpy as np

from .backend import check_runtime, to_numpy
from .errors import HalconDLError
from .model import DLModel
from .nn.layers import weight_budget
from .params import GET_ONLY, defaults, spec
from .tasks import TASKS

FORMAT, VERSION = 'halcon_dl.model', 1
JSON_MEMBER = 'model.json'
MAX_JSON_BYTES = 64 << 20                   # far above any model's; refuses absurd entries
NETWORK_KINDS, OPTIMIZER_KIND = ('parameter', 'buffer'), 'optimizer'
DTYPES = {np.dtype(t).name: np.dtype(t) for t in (np.float32, np.float64, np.int32, np.int64,
                                                   np.uint8, np.bool_)}
_DATE = (1980, 1, 1, 0, 0, 0)              # fixed member date: same model, same bytes

# the JSON schema: exact keys and their types (int never accepts a bool)
_DOCUMENT = {'format': str, 'version': int, 'type': str, 'seed': int, 'params': dict,
             'layout': list, 'optimizer': dict, 'rng': dict}
_OPTIMIZER = {'name': str, 'scalars': dict, 'arrays': list}
_ENTRY = {'kind': str, 'name': str, 'shape': list, 'dtype': str, 'sha256': str}


# -- writing --------------------------------------------------------------------------------------

def write_dl_model(model, path) -> None:
    """Write ``model`` to the file ``path`` (see the module docstring for the format).

    Everything needed to continue training bit-identically is written: every parameter, the
    network's weights and BatchNorm statistics, the optimiser state (Adam's step count too) and
    the random generator.  A GPU model's arrays are copied to the host for writing.  The
    directory must exist; an existing file at ``path`` is replaced atomically.
    """
    if not isinstance(model, DLModel):
        raise HalconDLError(f'write_dl_model needs a model made by create_dl_model, got '
                            f'{type(model).__name__}')
    path = _path(path, 'write_dl_model')
    document, arrays = _contents(model)
    data = json.dumps(document, separators=(',', ':'), allow_nan=False).encode()
    _write_atomically(path, lambda f: _write_archive(f, data, arrays))


def _contents(model):
    """The JSON document and the arrays (host copies, by member name) of ``model``."""
    arrays, bad = {}, []

    def entries(kind, named):
        out = []
        for name, a in named.items():
            a = np.ascontiguousarray(to_numpy(a))
            if a.dtype.kind == 'f' and not np.isfinite(a).all():
                bad.append(f'{kind} {name}')
            out.append({'kind': kind, 'name': name, 'shape': list(a.shape), 'dtype': a.dtype.name,
                        'sha256': hashlib.sha256(a).hexdigest()})
            arrays[_member(kind, name)] = a
        return out

    layout = entries('parameter', model.parameters()) + entries('buffer', model.buffers())
    optimizer = {'name': model.solver.name, 'scalars': model.solver.scalars(),
                 'arrays': entries(OPTIMIZER_KIND, model.optimizer_state())}
    if bad:
        raise HalconDLError(f'the model holds non-finite values in {bad}; not written')
    document = {'format': FORMAT, 'version': VERSION, 'type': model.type, 'seed': model.seed,
                'params': dict(model.params), 'layout': layout, 'optimizer': optimizer,
                'rng': model.rng.bit_generator.state}
    return document, arrays


def _member(kind: str, name: str) -> str:
    return f'{kind}/{name}.npy'


def _write_archive(f, data: bytes, arrays: dict) -> None:
    with zipfile.ZipFile(f, 'w', compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(zipfile.ZipInfo(JSON_MEMBER, _DATE), data)
        for name, a in arrays.items():
            with zf.open(zipfile.ZipInfo(name, _DATE), 'w', force_zip64=a.nbytes > 1 << 30) as fp:
                np.lib.format.write_array(fp, a, allow_pickle=False)


def _write_atomically(path: str, write) -> None:
    """``write(file)`` into a new temporary file beside ``path``, fsync, rename over ``path``.

    On any failure the temporary file is removed and ``path`` is as it was.
    """
    directory = os.path.dirname(path) or '.'
    if not os.path.isdir(directory):
        raise HalconDLError(f'cannot write model file {path!r}: the directory {directory!r} '
                            'does not exist')
    if os.path.isdir(path):
        raise HalconDLError(f'cannot write model file {path!r}: it is a directory')
    temporary = None
    try:
        for _ in range(100):          # O_EXCL: never reuse someone else's file
            candidate = os.path.join(directory, f'.{os.path.basename(path)}.'
                                                f'{secrets.token_hex(6)}.tmp')
            try:
                fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                             | getattr(os, 'O_BINARY', 0), 0o666)
            except FileExistsError:
                continue
            temporary = candidate
            break
        else:
            raise HalconDLError(f'cannot create a temporary file in {directory!r}')
        with os.fdopen(fd, 'wb') as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
        temporary = None
        _fsync_directory(directory)
    except OSError as exc:
        raise HalconDLError(f'cannot write model file {path!r}: {exc.strerror or exc}') from exc
    finally:
        if temporary is not None:
            try:
                os.unlink(temporary)
            except OSError:
                pass


def _fsync_directory(directory: str) -> None:
    """Make the rename durable where the platform allows opening a directory (POSIX)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _path(path, operator: str) -> str:
    try:
        return os.fspath(path)
    except TypeError:
        raise HalconDLError(f'{operator} needs a file path (str or os.PathLike), got '
                            f'{type(path).__name__}') from None


# -- reading --------------------------------------------------------------------------------------

def read_dl_model(path, runtime: str = 'cpu') -> DLModel:
    """Read a model written by ``write_dl_model``; it continues training bit-identically.

    The model is returned on ``runtime`` ('cpu' by default, whatever runtime it was written
    from; 'gpu' moves it to CuPy, as ``set_dl_model_param(model, 'runtime', 'gpu')`` would).
    Raises :class:`HalconDLError` naming the file and what is wrong for a missing, truncated,
    corrupt, foreign or newer-version file.
    """
    path = _path(path, 'read_dl_model')
    check_runtime(runtime)
    try:
        with open(path, 'rb') as f, zipfile.ZipFile(f) as zf:
            model = _read_archive(zf, os.fstat(f.fileno()).st_size)
    except Exception as exc:        # anything a hostile file can cause is reported as such
        if isinstance(exc, HalconDLError):
            what = str(exc)
        elif isinstance(exc, OSError) and exc.strerror:
            what = exc.strerror
        elif isinstance(exc, zipfile.BadZipFile):
            what = f'not a valid zip (.npz) archive: {exc}'
        else:
            what = f'{type(exc).__name__}: {exc}'
        raise HalconDLError(f'cannot read model file {path!r}: {what}') from exc
    if runtime != 'cpu':
        model.set_param('runtime', runtime)
    return model


def _read_archive(zf: zipfile.ZipFile, file_bytes: int) -> DLModel:
    infos = zf.infolist()
    members = {i.filename: i for i in infos}
    if JSON_MEMBER not in members:
        raise HalconDLError(f'no {JSON_MEMBER!r} entry: not a halcon_dl model file')
    if len(members) != len(infos):
        raise HalconDLError('the archive holds a member name twice')
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            raise HalconDLError(f'member {info.filename!r} is compressed or encrypted; model '
                                'files store their members as they are')
    document = _check_document(_read_json(zf, members[JSON_MEMBER]))
    entries = document['layout'] + document['optimizer']['arrays']
    expected = [JSON_MEMBER] + [_member(e['kind'], e['name']) for e in entries]
    if len(set(expected)) != len(expected):
        raise HalconDLError('the layout names an array twice')
    if set(expected) != set(members):
        raise HalconDLError(f'members do not match the layout: missing '
                            f'{sorted(set(expected) - set(members))}, unknown '
                            f'{sorted(set(members) - set(expected))}')
    declared = {}
    for e in entries:                  # what the layout declares must be in the file
        name = _member(e['kind'], e['name'])
        declared[name] = math.prod(e['shape']) * DTYPES[e['dtype']].itemsize
        if members[name].file_size < declared[name]:
            raise HalconDLError(f'{name}: the layout declares an array of {declared[name]} '
                                f'bytes; the member holds {members[name].file_size}')
    total = sum(declared.values())
    if total > file_bytes:                         # member sizes are the archive's own claim
        raise HalconDLError(f'the layout declares {total} bytes of arrays; the file has '
                            f'{file_bytes}')
    network_bytes = sum(declared[_member(e['kind'], e['name'])] for e in document['layout'])
    with weight_budget(network_bytes, f'the parameters describe a network larger than the '
                                      f'layout ({network_bytes} bytes of arrays)'):
        model = _rebuild(document)
    arrays = {(e['kind'], e['name']): _read_array(zf, members[_member(e['kind'], e['name'])], e)
              for e in entries}
    for kind, named in (('parameter', model.network.named_parameters()),
                        ('buffer', model.network.named_buffers())):
        for name, holder in named:
            holder.data = arrays[kind, name]
    _load_optimizer(model, document['optimizer'], arrays)
    _load_rng(model, document['rng'])
    return model


def _read_json(zf, info) -> dict:
    if info.file_size > MAX_JSON_BYTES:
        raise HalconDLError(f'{JSON_MEMBER} declares {info.file_size} bytes (at most '
                            f'{MAX_JSON_BYTES})')

    def unique_keys(pairs):
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise HalconDLError(f'{JSON_MEMBER}: a key appears twice in one object ({keys})')
        return dict(pairs)

    def no_constant(name):
        raise HalconDLError(f'{JSON_MEMBER}: {name} is not a JSON number')

    try:
        text = zf.read(info).decode('utf-8')
        return json.loads(text, object_pairs_hook=unique_keys, parse_constant=no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise HalconDLError(f'{JSON_MEMBER} is not valid JSON: {exc}') from exc


def _check_keys(obj, schema: dict, where: str) -> dict:
    """``obj`` is a dict with exactly the keys of ``schema``, each value of the given type."""
    if not isinstance(obj, dict):
        raise HalconDLError(f'{where}: expected an object, got {type(obj).__name__}')
    unknown, missing = sorted(set(obj) - set(schema)), sorted(set(schema) - set(obj))
    if unknown or missing:
        raise HalconDLError(f'{where}: unknown keys {unknown}, missing keys {missing}')
    for key, kind in schema.items():
        if not isinstance(obj[key], kind) or (kind is int and isinstance(obj[key], bool)):
            raise HalconDLError(f'{where}.{key}: expected {kind.__name__}, got '
                                f'{type(obj[key]).__name__} {obj[key]!r:.80}')
    return obj


def _check_document(document) -> dict:
    """Format name first (a foreign file), then version (a newer file), then the schema."""
    if not isinstance(document, dict) or document.get('format') != FORMAT:
        found = document.get('format') if isinstance(document, dict) else None
        raise HalconDLError(f'{JSON_MEMBER} does not name the format {FORMAT!r} (found '
                            f'{found!r:.80}): not a halcon_dl model file')
    version = document.get('version')
    if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
        raise HalconDLError(f'format version {version} was written by a newer halcon_dl; this '
                            f'one reads versions up to {VERSION}')
    _check_keys(document, _DOCUMENT, 'model')
    if version != VERSION:
        raise HalconDLError(f'format version {version} is not valid (this one reads '
                            f'1..{VERSION})')
    _check_keys(document['optimizer'], _OPTIMIZER, 'model.optimizer')
    for where, kinds in (('layout', NETWORK_KINDS), ('optimizer.arrays', (OPTIMIZER_KIND,))):
        items = document['layout'] if where == 'layout' else document['optimizer']['arrays']
        for i, e in enumerate(items):
            _check_entry(e, kinds, f'model.{where}[{i}]')
    return document


def _check_entry(entry, kinds, where: str) -> None:
    _check_keys(entry, _ENTRY, where)
    if entry['kind'] not in kinds:
        raise HalconDLError(f'{where}.kind: expected one of {list(kinds)}, got {entry["kind"]!r}')
    if not entry['name']:
        raise HalconDLError(f'{where}.name is empty')
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
               for n in entry['shape']):
        raise HalconDLError(f'{where}.shape: expected integers >= 0, got {entry["shape"]!r:.80}')
    if entry['dtype'] not in DTYPES:
        raise HalconDLError(f'{where}.dtype: expected one of {list(DTYPES)}, got '
                            f'{entry["dtype"]!r:.80}')
    digest = entry['sha256']
    if len(digest) != 64 or any(c not in '0123456789abcdef' for c in digest):
        raise HalconDLError(f'{where}.sha256: expected 64 lower-case hex digits')


def _rebuild(document) -> DLModel:
    """A new model from type, seed and every parameter, its network checked against the layout.

    Every parameter that is not read-only is given at creation (so no ``set_param`` side effect
    runs); the read-only ones must then equal what the model derived, like all others.
    """
    mtype, params = document['type'], document['params']
    if mtype not in TASKS:
        raise HalconDLError(f'model type {mtype!r} is not supported here (supported: '
                            f'{sorted(TASKS)})')
    names = set(defaults(mtype))
    if set(params) != names:
        raise HalconDLError(f'parameters of a {mtype} model: unknown '
                            f'{sorted(set(params) - names)}, missing {sorted(names - set(params))}')
    given = {n: v for n, v in params.items()
             if spec(n, mtype).access_for(mtype) != GET_ONLY and n != 'runtime'}
    model = DLModel(mtype, backbone=params['backbone'], seed=document['seed'], **given)
    written_on = spec('runtime', mtype).check('runtime', params['runtime'], model)
    different = sorted(n for n in names
                       if (written_on if n == 'runtime' else model.params[n]) != params[n])
    if different:
        name = different[0]
        raise HalconDLError(f'parameters {different} are not those a model created with the '
                            f'stored parameters has: e.g. {name!r} stored {params[name]!r:.80}, '
                            f'rebuilt {model.params[name]!r:.80}')
    built = [(kind, name, list(h.data.shape), h.data.dtype.name)
             for kind, named in (('parameter', model.network.named_parameters()),
                                 ('buffer', model.network.named_buffers()))
             for name, h in named]
    stored = [(e['kind'], e['name'], e['shape'], e['dtype']) for e in document['layout']]
    if built != stored:
        i = next((i for i, (a, b) in enumerate(zip(built, stored)) if a != b),
                 min(len(built), len(stored)))
        at = lambda items: items[i] if i < len(items) else None       # noqa: E731
        raise HalconDLError(
            f'the layout does not match the {mtype} network built from the parameters '
            f'({len(stored)} arrays stored, {len(built)} built); first difference at #{i}: '
            f'stored {at(stored)}, built {at(built)}')
    return model


def _read_array(zf, info, entry) -> np.ndarray:
    """One ``.npy`` member, its header checked against ``entry`` before anything is allocated,
    then its size, its digest and (floats) its finiteness."""
    where = info.filename
    try:
        array = _read_npy(zf, info, tuple(entry['shape']), DTYPES[entry['dtype']])
    except HalconDLError as exc:
        raise HalconDLError(f'{where}: {exc}') from exc
    except Exception as exc:            # a corrupt header or zip entry
        raise HalconDLError(f'{where}: {type(exc).__name__}: {exc}') from exc
    if hashlib.sha256(array).hexdigest() != entry['sha256']:
        raise HalconDLError(f'{where}: the data do not match the digest stored in the layout '
                            '(corrupted or exchanged arrays)')
    if array.dtype.kind == 'f' and not np.isfinite(array).all():
        raise HalconDLError(f'{where}: holds non-finite values')
    return array


def _read_npy(zf, info, shape: tuple, dtype: np.dtype) -> np.ndarray:
    with zf.open(info) as fp:
        version = np.lib.format.read_magic(fp)
        if version not in ((1, 0), (2, 0)):
            raise HalconDLError(f'.npy version {version} is not supported')
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        header_shape, fortran, header_dtype = read_header(fp)
        if header_shape != shape or header_dtype != dtype or fortran:
            raise HalconDLError(f'the array header says shape {header_shape}, dtype '
                                f'{header_dtype}{", Fortran order" if fortran else ""}; the '
                                f'layout says shape {shape}, dtype {dtype}')
        nbytes, size = math.prod(shape) * dtype.itemsize, info.file_size - fp.tell()
        if size != nbytes:
            raise HalconDLError(f'holds {size} data bytes, the shape needs {nbytes}')
        array = np.empty(shape, dtype)
        if fp.readinto(memoryview(array.reshape(-1).view(np.uint8))) != nbytes or fp.read(1):
            raise HalconDLError('truncated data')      # reading to the end checks the CRC
    return array


def _load_optimizer(model, stored, arrays) -> None:
    """The optimiser state: the solver named by the parameters, each array shaped like the
    parameter it belongs to, the scalars of the solver's own kinds."""
    solver = model.solver
    if stored['name'] != solver.name:
        raise HalconDLError(f'optimizer {stored["name"]!r} does not match the parameter '
                            f'solver_type {model.params["solver_type"]!r}')
    weights = model.parameters()
    state = {}
    for (kind, key), a in arrays.items():
        if kind != OPTIMIZER_KIND:
            continue
        param = weights.get(key.partition('.')[2])
        if param is None or a.shape != param.shape or a.dtype != param.dtype:
            raise HalconDLError(f'optimizer state {key!r} {a.shape} {a.dtype} belongs to no '
                                'parameter of that shape and dtype')
        state[key] = a
    fresh = solver.scalars()
    for name, value in stored['scalars'].items():
        if name in fresh and (type(value) is not type(fresh[name])):
            raise HalconDLError(f'optimizer scalar {name!r}: expected '
                                f'{type(fresh[name]).__name__}, got {type(value).__name__}')
    solver.load_state(state, stored['scalars'])


def _load_rng(model, stored) -> None:
    """The generator state: the same structure (keys, value types) as the model's generator's,
    accepted by it and read back unchanged."""
    def same_structure(a, b):
        if isinstance(a, dict):
            return (isinstance(b, dict) and a.keys() == b.keys()
                    and all(same_structure(a[k], b[k]) for k in a))
        return type(a) is type(b)

    template = model.rng.bit_generator.state
    if not same_structure(template, stored) or stored['bit_generator'] != template['bit_generator']:
        raise HalconDLError(f'rng: expected the state of a {template["bit_generator"]} generator '
                            f'with keys {sorted(template)}')
    try:
        model.rng.bit_generator.state = stored
    except (ValueError, TypeError, OverflowError) as exc:
        raise HalconDLError(f'rng: the generator refuses the state ({exc})') from exc
    if model.rng.bit_generator.state != stored:
        raise HalconDLError('rng: the state is out of range')


__all__ = ['write_dl_model', 'read_dl_model']
