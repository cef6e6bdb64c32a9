"""Model files (write_dl_model / read_dl_model): exact round trip, atomic writes, hostile files."""
import hashlib
import io
import json
import os
import tracemalloc
import zipfile

import numpy as np
import pytest

import halcon_dl as hdl
from halcon_dl.backend import gpu_available
from halcon_dl.nn import Conv2d, Module
from halcon_dl.tasks import TASKS, Task
from halcon_dl.tasks.classification import build_model_backbone
from halcon_dl.testing.models import assert_same_snapshot, random_samples, snapshot


def make(backbone='compact', solver='adam', **params):
    kw = dict(backbone=backbone, class_ids=[3, 5, 8], class_names=['a', 'b', 'c'], image_width=10,
              image_height=12, image_num_channels=3, batch_size=2, batch_size_multiplier=2,
              solver_type=solver, learning_rate=0.01, weight_prior=1e-3, base_width=4, seed=7)
    kw.update(params)
    return hdl.create_dl_model('classification', **kw)


def trained(steps=1, **params):
    model = make(**params)
    for s in range(steps):
        hdl.train_dl_model_batch(model, random_samples(model, 4, seed=100 + s))
    return model


def state(model):
    """Everything a model file must carry: arrays, parameters, Adam's t, seed and generator."""
    return {**snapshot(model), 'seed': model.seed, 'rng': model.rng.bit_generator.state,
            'solver': model.solver.name}


# -- exact round trip ------------------------------------------------------------------------------

@pytest.mark.parametrize('backbone', ['compact', 'resnet18'])
@pytest.mark.parametrize('solver', ['sgd', 'adam'])
def test_read_model_continues_training_bit_identically(tmp_path, backbone, solver):
    a = trained(steps=2, backbone=backbone, solver=solver)
    path = tmp_path / 'model.npz'
    hdl.write_dl_model(a, path)
    b = hdl.read_dl_model(path)
    assert_same_snapshot(state(a), state(b))
    for s in range(3):
        samples = random_samples(a, 4, seed=s)
        assert hdl.train_dl_model_batch(b, samples) == hdl.train_dl_model_batch(a, samples)
    hdl.set_dl_model_param(a, 'learning_rate', 0.002)
    hdl.set_dl_model_param(b, 'learning_rate', 0.002)
    samples = random_samples(a, 4, seed=9)
    assert hdl.train_dl_model_batch(b, samples) == hdl.train_dl_model_batch(a, samples)
    assert_same_snapshot(state(a), state(b))


@pytest.mark.parametrize('solver', ['sgd', 'adam'])
def test_weights_alone_do_not_continue_identically(solver):
    """Control for the test above: without the optimiser state (and Adam's t) the next step
    differs, so an incomplete file would be caught."""
    a = trained(steps=2, solver=solver)
    fresh = make(solver=solver)
    for k, w in a.parameters().items():
        fresh.parameters()[k][...] = w
    for k, buf in a.buffers().items():
        fresh.buffers()[k][...] = buf
    samples = random_samples(a, 4, seed=0)
    hdl.train_dl_model_batch(a, samples)
    hdl.train_dl_model_batch(fresh, samples)
    assert any(not np.array_equal(w, fresh.parameters()[k]) for k, w in a.parameters().items())


def test_float64_model_and_settable_parameters_round_trip(tmp_path):
    a = trained(precision='float64', momentum=0.5, batchnorm_momentum=0.3, class_weights=[1, 2, 3],
                image_range_min=0.0, image_range_max=255.0, solver='sgd')
    a.write(tmp_path / 'm.npz')
    b = hdl.DLModel.read(tmp_path / 'm.npz')
    assert b.params == a.params and b.params['precision'] == 'float64'
    assert all(v.dtype == np.float64 for v in b.optimizer_state().values())
    assert_same_snapshot(state(a), state(b))


def test_generator_state_is_restored(tmp_path):
    """The model's generator draws new layers (e.g. after class_ids change): read models draw
    the same ones as the model that was written."""
    a = trained()
    a.rng.standard_normal(5)                # advance it beyond the creation state
    hdl.write_dl_model(a, tmp_path / 'm.npz')
    b = hdl.read_dl_model(tmp_path / 'm.npz')
    assert b.rng.bit_generator.state == a.rng.bit_generator.state
    for m in (a, b):
        hdl.set_dl_model_param(m, 'class_ids', [1, 2, 3, 4])
    assert_same_snapshot(state(a), state(b))


def test_same_model_gives_the_same_bytes_and_numpy_reads_the_arrays(tmp_path):
    a = trained()
    hdl.write_dl_model(a, tmp_path / 'a.npz')
    hdl.write_dl_model(hdl.read_dl_model(tmp_path / 'a.npz'), tmp_path / 'b.npz')
    assert (tmp_path / 'a.npz').read_bytes() == (tmp_path / 'b.npz').read_bytes()
    with np.load(tmp_path / 'a.npz', allow_pickle=False) as z:
        np.testing.assert_array_equal(z['parameter/fc.weight'], a.parameters()['fc.weight'])
        np.testing.assert_array_equal(z['optimizer/v.fc.bias'], a.solver.v['fc.bias'])
        document = json.loads(z['model.json'])
    assert document['optimizer']['scalars'] == {'t': 1}
    assert [e['name'] for e in document['layout'] if e['kind'] == 'buffer'] == list(a.buffers())


def test_compact_file_is_within_ten_percent_of_its_array_bytes(tmp_path):
    """The figure: the 'compact' 6-class 64x64x3 model, with SGD state after one step."""
    m = hdl.create_dl_model('classification', class_ids=list(range(6)), image_width=64,
                            image_height=64, image_num_channels=3, batch_size=1)
    hdl.train_dl_model_batch(m, random_samples(m, 1))
    hdl.write_dl_model(m, tmp_path / 'm.npz')
    raw = sum(a.nbytes for group in (m.parameters(), m.buffers(), m.optimizer_state())
              for a in group.values())
    assert raw <= os.path.getsize(tmp_path / 'm.npz') <= 1.1 * raw


# -- a model type the format has never seen --------------------------------------------------------

class ToyDetectionTask(Task):
    """A stand-in 'detection' type: backbone + a 1x1 conv head sized by creation-only
    parameters, loss = mean squared output.  The file format must need nothing for it."""
    type = 'detection'

    def build_network(self, model, rng):
        p = model.params
        outputs = len(p['anchor_aspect_ratios']) * p['anchor_num_subscales'] * len(model.class_ids)

        class Net(Module):
            def __init__(self):
                super().__init__()
                self.backbone = build_model_backbone(ToyDetectionTask, model, rng)
                self.head = Conv2d(128, outputs, 1, rng, dtype=model.dtype)

            def forward(self, x):
                return self.head(self.backbone(x)[3])
        return Net()

    def collate(self, model, samples, labels=True):
        return {'images': np.stack([s['image'] for s in samples]).astype(model.dtype)
                .transpose(0, 3, 1, 2)}

    def loss_weights(self, model):
        return {'toy_loss': 1.0}

    def losses(self, model, outputs, batch):
        return {'toy_loss': (outputs * outputs).mean()}


def test_a_new_model_type_needs_nothing_from_the_file_format(tmp_path, monkeypatch):
    monkeypatch.setitem(TASKS, 'detection', ToyDetectionTask)
    a = hdl.create_dl_model('detection', class_ids=[1, 2], image_width=16, image_height=16,
                            image_num_channels=3, batch_size=2, batch_size_multiplier=2,
                            solver_type='adam', anchor_aspect_ratios=[0.5, 1.0, 2.0, 3.0],
                            anchor_num_subscales=2, ignore_direction=True, capacity='low',
                            class_weights=[0.25, 0.75], seed=4)
    hdl.train_dl_model_batch(a, random_samples(a, 4))
    hdl.write_dl_model(a, tmp_path / 'toy.npz')
    b = hdl.read_dl_model(tmp_path / 'toy.npz')
    assert b.params['anchor_aspect_ratios'] == [0.5, 1.0, 2.0, 3.0] and b.params['ignore_direction']
    samples = random_samples(a, 4, seed=1)
    assert hdl.train_dl_model_batch(b, samples) == hdl.train_dl_model_batch(a, samples)
    assert_same_snapshot(state(a), state(b))


# -- writing: atomic, clear errors -----------------------------------------------------------------

def test_writer_failing_mid_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / 'model.npz'
    hdl.write_dl_model(make(seed=1), path)
    before = path.read_bytes()
    calls, real = [], np.lib.format.write_array

    def failing(fp, array, **kwargs):
        calls.append(array.shape)
        if len(calls) == 3:
            raise RuntimeError('disk on fire')
        return real(fp, array, **kwargs)
    monkeypatch.setattr(np.lib.format, 'write_array', failing)
    with pytest.raises(RuntimeError, match='disk on fire'):
        hdl.write_dl_model(trained(), path)
    assert len(calls) == 3
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ['model.npz']


def test_failed_write_of_a_new_file_leaves_nothing(tmp_path, monkeypatch):
    def failing(*args):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(os, 'replace', failing)
    with pytest.raises(hdl.HalconDLError, match='No space left'):
        hdl.write_dl_model(make(), tmp_path / 'model.npz')
    assert os.listdir(tmp_path) == []


def test_write_syncs_a_temporary_beside_the_target_then_renames(tmp_path, monkeypatch):
    events, real_fsync, real_replace = [], os.fsync, os.replace
    monkeypatch.setattr(os, 'fsync', lambda fd: (events.append(('fsync', fd)), real_fsync(fd)))
    monkeypatch.setattr(os, 'replace', lambda a, b: (events.append(('replace', a, b)),
                                                     real_replace(a, b)))
    path = tmp_path / 'model.npz'
    hdl.write_dl_model(make(), path)
    assert events[0][0] == 'fsync' and events[1][0] == 'replace'
    _, temporary, target = events[1]
    assert os.path.dirname(temporary) == str(tmp_path) and target == str(path)
    assert os.listdir(tmp_path) == ['model.npz']


def test_write_errors_are_clear(tmp_path):
    with pytest.raises(hdl.HalconDLError, match="directory .*missing.* does not exist"):
        hdl.write_dl_model(make(), tmp_path / 'missing' / 'model.npz')
    with pytest.raises(hdl.HalconDLError, match='is a directory'):
        hdl.write_dl_model(make(), tmp_path)
    with pytest.raises(hdl.HalconDLError, match='needs a model'):
        hdl.write_dl_model({'type': 'classification'}, tmp_path / 'm.npz')
    with pytest.raises(hdl.HalconDLError, match='file path'):
        hdl.write_dl_model(make(), 3.5)
    m = make()
    m.parameters()['fc.bias'][0] = np.nan
    with pytest.raises(hdl.HalconDLError, match=r"non-finite values in \['parameter fc.bias'\]"):
        hdl.write_dl_model(m, tmp_path / 'm.npz')
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(gpu_available(), reason='checks the error where there is no GPU')
def test_reading_onto_a_missing_gpu_is_refused_before_reading(tmp_path):
    with pytest.raises(hdl.HalconDLError, match="runtime 'gpu' needs CuPy"):
        hdl.read_dl_model(tmp_path / 'never_written.npz', runtime='gpu')


# -- corrupt and hostile files ---------------------------------------------------------------------

EXECUTED = []


def _mark_executed():
    EXECUTED.append('code from the file ran')
    return 0


class Payload:
    def __reduce__(self):
        return (_mark_executed, ())


@pytest.fixture(scope='module')
def good(tmp_path_factory):
    """The bytes of a small trained Adam model's file, and the model's state."""
    model = trained(steps=1)
    path = tmp_path_factory.mktemp('good') / 'model.npz'
    hdl.write_dl_model(model, path)
    return path.read_bytes(), state(model)


def members(data):
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def archive(contents, compression=zipfile.ZIP_STORED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w', compression) as zf:
        for name, data in contents.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def npy(array, allow_pickle=False):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def edited(data, edit_document=None, edit_members=None):
    """``data`` rewritten with its JSON and/or members changed (CRCs valid again)."""
    contents = members(data)
    document = json.loads(contents['model.json'])
    if edit_document:
        edit_document(document)
    if edit_members:
        edit_members(contents, document)
    contents['model.json'] = json.dumps(document).encode()
    return archive(contents)


def flipped(data, offset):
    return data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1:]


def data_offset(data, name):
    """Offset of member ``name``'s data in the archive (after its local header)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        start = zf.getinfo(name).header_offset
    n, m = int.from_bytes(data[start + 26:start + 28], 'little'), int.from_bytes(
        data[start + 28:start + 30], 'little')
    return start + 30 + n + m


def central_offset(data, name):
    return data.rindex(name.encode())     # the central directory comes last


def entry(document, kind, name):
    return next(e for e in (document['layout'] + document['optimizer']['arrays'])
                if e['kind'] == kind and e['name'] == name)


def digest_of(array):
    return hashlib.sha256(np.ascontiguousarray(array)).hexdigest()


FC = 'parameter/fc.weight.npy'
GAMMA, BETA = 'parameter/backbone.stages.1.bn.gamma.npy', 'parameter/backbone.stages.1.bn.beta.npy'


def swap(contents, _, a=GAMMA, b=BETA):
    contents[a], contents[b] = contents[b], contents[a]


def set_path(document, keys, value):
    target = document
    for k in keys[:-1]:
        target = target[k]
    target[keys[-1]] = value


def drop_path(document, keys):
    target = document
    for k in keys[:-1]:
        target = target[k]
    del target[keys[-1]]


def doc_edit(keys, value):
    return lambda d: edited(d, lambda doc: set_path(doc, keys, value))


def with_non_finite(contents, document):
    w = np.lib.format.read_array(io.BytesIO(contents[FC]))
    w[0, 0] = np.inf
    contents[FC] = npy(w)
    entry(document, 'parameter', 'fc.weight')['sha256'] = digest_of(w)


def with_changed_value(contents, _):
    w = np.lib.format.read_array(io.BytesIO(contents[FC]))
    w[1, 2] += 1.0
    contents[FC] = npy(w)                  # CRC valid, digest not


def with_huge_shape(contents, document, in_layout=True):
    shape = [1 << 20, 1 << 20]               # 4 TiB of float32
    if in_layout:
        entry(document, 'parameter', 'fc.weight')['shape'] = shape
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {'descr': '<f4', 'fortran_order': False,
                                                  'shape': tuple(shape)})
    # as many bytes as the layout's array, so that the check reached is the header's
    contents[FC] = header.getvalue() + b'\0' * len(contents[FC])


def with_member_size_beyond_the_file(data):
    """fc.weight declared as 1 GiB in the layout, and its central-directory entry claiming
    4 GiB: each member looks large enough, the file is not."""
    data = edited(data, lambda doc: entry(doc, 'parameter', 'fc.weight').update(
        shape=[1 << 14, 1 << 14]))
    at = central_offset(data, FC) - 46           # the central directory header of the member
    huge = (0xFFFFFFF0).to_bytes(4, 'little')
    return data[:at + 20] + huge + huge + data[at + 28:]


def with_pickled_array(contents, _):
    # padded to the layout's size, so that the check reached is the header's object dtype
    pickled = npy(np.array([Payload(), 1], dtype=object), allow_pickle=True)
    contents[FC] = pickled + b'\0' * max(0, len(contents[FC]) - len(pickled))


def without_v_of_fc_bias(contents, document):
    arrays = document['optimizer']['arrays']
    arrays.remove(entry(document, 'optimizer', 'v.fc.bias'))
    del contents['optimizer/v.fc.bias.npy']


def with_state_of_unknown_parameter(contents, document):
    e = dict(entry(document, 'optimizer', 'm.fc.bias'), name='m.fc.gain')
    e2 = dict(entry(document, 'optimizer', 'v.fc.bias'), name='v.fc.gain')
    document['optimizer']['arrays'] += [e, e2]
    contents['optimizer/m.fc.gain.npy'] = contents['optimizer/m.fc.bias.npy']
    contents['optimizer/v.fc.gain.npy'] = contents['optimizer/v.fc.bias.npy']


def four_classes(document):
    document['params'].update(class_ids=[1, 2, 3, 4], class_names=['1', '2', '3', '4'],
                              class_weights=[1.0] * 4)


def duplicate_key(data):
    contents = members(data)
    contents['model.json'] = contents['model.json'][:-1] + b',"seed":3}'
    return archive(contents)


def json_text(text):
    return lambda d: archive({**members(d), 'model.json': text})


CASES = {
    # not a zip at all, or cut short
    'empty file': (lambda d: b'', 'not a valid zip'),
    'text file': (lambda d: b'a model, honestly\n' * 20, 'not a valid zip'),
    'truncated at 10': (lambda d: d[:10], 'not a valid zip'),
    'truncated at 300': (lambda d: d[:300], 'not a valid zip'),
    'truncated at half': (lambda d: d[:len(d) // 2], 'not a valid zip'),
    'truncated 100 before the end': (lambda d: d[:-100], 'not a valid zip'),
    'truncated 1 before the end': (lambda d: d[:-1], 'not a valid zip'),
    # bytes flipped in place
    'byte flipped in the JSON': (lambda d: flipped(d, data_offset(d, 'model.json') + 40), 'CRC'),
    'byte flipped in array data': (lambda d: flipped(d, data_offset(d, FC) + 200), 'CRC'),
    'byte flipped in an npy header': (lambda d: flipped(d, data_offset(d, FC) + 30), FC),
    'byte flipped in a local header name': (lambda d: flipped(d, data_offset(d, FC) - 5),
                                            f'{FC}: BadZipFile: File name .* differ'),
    'byte flipped in a central directory name': (lambda d: flipped(d, central_offset(d, FC) + 12),
                                                 'members do not match'),
    'byte flipped in a stored CRC': (lambda d: flipped(d, central_offset(d, FC) - 46 + 16), 'CRC'),
    'byte flipped in the compression method': (
        lambda d: flipped(d, central_offset(d, FC) - 46 + 10), 'compressed'),
    # arrays exchanged or changed behind a valid CRC
    'arrays of one shape swapped': (lambda d: edited(d, edit_members=swap), 'digest'),
    'arrays of two shapes swapped': (
        lambda d: edited(d, edit_members=lambda c, doc: swap(c, doc, FC, GAMMA)),
        'the layout declares an array of 1536 bytes; the member holds'),
    'a value changed': (lambda d: edited(d, edit_members=with_changed_value), 'digest'),
    'an infinite value with a matching digest': (
        lambda d: edited(d, edit_members=with_non_finite), 'non-finite'),
    'a pickled object array': (lambda d: edited(d, edit_members=with_pickled_array), 'object'),
    'huge shape in layout and header': (lambda d: edited(d, edit_members=with_huge_shape),
                                        'the layout declares an array of 4398046511104 bytes'),
    'a member claiming more bytes than the file has': (
        with_member_size_beyond_the_file, r'declares \d+ bytes of arrays; the file has'),
    'a resnet18 of base width 256 for the compact layout': (
        lambda d: edited(d, lambda doc: doc['params'].update(backbone='resnet18', base_width=256)),
        'network larger than the layout'),
    'huge shape in the header only': (
        lambda d: edited(d, edit_members=lambda c, doc: with_huge_shape(c, doc, False)),
        'header says shape'),
    'a member missing': (lambda d: edited(d, edit_members=lambda c, doc: c.pop(GAMMA)),
                         'members do not match'),
    'an extra member': (lambda d: edited(d, edit_members=lambda c, doc: c.update(
        {'extra.npy': npy(np.zeros(3))})), 'members do not match'),
    'compressed members': (lambda d: archive(members(d), zipfile.ZIP_DEFLATED), 'compressed'),
    'foreign npz': (lambda d: archive({'x.npy': npy(np.ones(3)), 'y.npy': npy(np.eye(2))}),
                    "no 'model.json'"),
    # the JSON: format, version, schema
    'another format': (doc_edit(['format'], 'keras.model'), 'does not name the format'),
    'a newer version': (doc_edit(['version'], 2), 'newer halcon_dl'),
    'version 0': (doc_edit(['version'], 0), 'not valid'),
    'version as a string': (doc_edit(['version'], '1'), r'version: expected int'),
    'an extra top-level key': (doc_edit(['comment'], 'hi'), r"unknown keys \['comment'\]"),
    'a missing top-level key': (lambda d: edited(d, lambda doc: drop_path(doc, ['rng'])),
                                r"missing keys \['rng'\]"),
    'seed as a float': (doc_edit(['seed'], 1.5), 'seed: expected int'),
    'seed as a bool': (doc_edit(['seed'], True), 'seed: expected int'),
    'an extra key in a layout entry': (doc_edit(['layout', 0, 'offset'], 0),
                                       r"layout\[0\]: unknown keys \['offset'\]"),
    'a negative shape': (doc_edit(['layout', 0, 'shape'], [-16, 3, 3, 3]), 'integers >= 0'),
    'object dtype in the layout': (doc_edit(['layout', 0, 'dtype'], 'object'), 'dtype: expected'),
    'a short digest': (doc_edit(['layout', 0, 'sha256'], 'abc'), 'hex digits'),
    'an unknown parameter': (doc_edit(['params', 'bogus'], 1), r"unknown \['bogus'\]"),
    'an array listed twice': (
        lambda d: edited(d, lambda doc: doc['layout'].append(doc['layout'][0])),
        'names an array twice'),
    'a missing parameter': (lambda d: edited(d, lambda doc: drop_path(doc, ['params', 'momentum'])),
                            r"missing \['momentum'\]"),
    'a parameter of the wrong type': (doc_edit(['params', 'batch_size'], '2'), 'batch_size'),
    'a parameter out of range': (doc_edit(['params', 'learning_rate'], -1.0), 'learning_rate'),
    'a read-only parameter changed': (doc_edit(['params', 'num_classes'], 7), 'num_classes'),
    'an unknown runtime': (doc_edit(['params', 'runtime'], 'tpu'), 'runtime'),
    'an unknown model type': (doc_edit(['type'], 'regression'), 'not supported'),
    'parameters for another network': (lambda d: edited(d, four_classes), 'layout does not match'),
    'NaN in the JSON': (json_text(b'{"format": "halcon_dl.model", "x": NaN}'),
                        'not a JSON number'),
    'a duplicate JSON key': (duplicate_key, 'appears twice'),
    'JSON that does not parse': (json_text(b'{"format": "halcon_dl.model",'), 'not valid JSON'),
    'JSON that is not UTF-8': (json_text(b'\xff\xfe{}'), 'not valid JSON'),
    'JSON that is a list': (json_text(b'[1, 2]'), 'does not name the format'),
    # optimiser and generator state
    'optimizer not the solver type': (doc_edit(['optimizer', 'name'], 'sgd'),
                                      "optimizer 'sgd' does not match"),
    'a negative step count': (doc_edit(['optimizer', 'scalars', 't'], -1), 't must be'),
    'a step count as a bool': (doc_edit(['optimizer', 'scalars', 't'], True), 'expected int'),
    'an unknown optimizer scalar': (doc_edit(['optimizer', 'scalars', 'lr'], 0.1), 'scalars'),
    'm and v for different parameters': (lambda d: edited(d, edit_members=without_v_of_fc_bias),
                                         'm and v differ'),
    'state of an unknown parameter': (
        lambda d: edited(d, edit_members=with_state_of_unknown_parameter),
        'belongs to no parameter'),
    'another bit generator': (doc_edit(['rng', 'bit_generator'], 'MT19937'), 'rng'),
    'a generator state out of range': (doc_edit(['rng', 'state', 'state'], 1 << 200), 'rng'),
}


@pytest.mark.parametrize('case', list(CASES))
def test_corrupt_or_hostile_file_raises_naming_the_problem(tmp_path, good, case):
    make_bytes, expected = CASES[case]
    path = tmp_path / 'bad.npz'
    path.write_bytes(make_bytes(good[0]))
    tracemalloc.start()
    try:
        with pytest.raises(hdl.HalconDLError, match=expected) as error:
            hdl.read_dl_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(path) in str(error.value)
    assert peak < 64 << 20, f'reading allocated {peak} bytes'
    assert EXECUTED == []


def test_the_good_file_itself_reads(tmp_path, good):
    """Control for the cases above: the unedited bytes, and a rewrite through the test's own
    archive helpers, read back to the same model."""
    data, expected = good
    for i, variant in enumerate([data, edited(data)]):
        (tmp_path / f'{i}.npz').write_bytes(variant)
        assert_same_snapshot(expected, state(hdl.read_dl_model(tmp_path / f'{i}.npz')))


def test_pickle_payload_is_live_but_never_run_by_the_reader(tmp_path, good):
    """The object array above would run code if unpickled: numpy with allow_pickle=True runs it."""
    path = tmp_path / 'bad.npz'
    path.write_bytes(edited(good[0], edit_members=with_pickled_array))
    with pytest.raises(hdl.HalconDLError):
        hdl.read_dl_model(path)
    assert EXECUTED == []
    with np.load(path, allow_pickle=True) as z:
        z['parameter/fc.weight']
    assert EXECUTED == ['code from the file ran']
    EXECUTED.clear()


def array_data_ranges(data):
    """(start, end) of each member's array data (after the .npy header) in the archive."""
    ranges = []
    for name, content in members(data).items():
        if name.endswith('.npy'):
            fp = io.BytesIO(content)
            np.lib.format.read_array_header_1_0(fp) if np.lib.format.read_magic(fp) else None
            start = data_offset(data, name)
            ranges.append((start + fp.tell(), start + len(content)))
    return ranges


def test_any_single_flipped_byte_is_refused_or_harmless(tmp_path, good):
    """Single bytes flipped in turn -- 120 outside the array data (zip structures, JSON, .npy
    headers), 30 inside it: the reader refuses the file or, for a byte no reader uses (such as
    a member date), returns exactly the model that was written."""
    data, expected = good
    inside = np.zeros(len(data), bool)
    for start, end in array_data_ranges(data):
        inside[start:end] = True
    rng = np.random.default_rng(0)
    offsets = np.concatenate([rng.choice(np.flatnonzero(~inside), 120, replace=False),
                              rng.choice(np.flatnonzero(inside), 30, replace=False)])
    path = tmp_path / 'flipped.npz'
    refused = 0
    for offset in offsets:
        path.write_bytes(flipped(data, int(offset)))
        try:
            model = hdl.read_dl_model(path)
        except hdl.HalconDLError:
            refused += 1
            continue
        assert_same_snapshot(expected, state(model))
    assert refused >= 0.8 * len(offsets)


@pytest.mark.parametrize('target, expected', [('directory', 'Is a directory'),
                                              ('missing.npz', 'No such file')])
def test_directory_or_missing_path_raises(tmp_path, target, expected):
    (tmp_path / 'directory').mkdir()
    with pytest.raises(hdl.HalconDLError, match=f'cannot read model file .*{expected}'):
        hdl.read_dl_model(tmp_path / target)
