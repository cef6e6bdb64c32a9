"""python -m halcon_dl: --help lists the options; a short run trains and reports accuracy; bad
counts and batches are errors with code 2; progress is redrawn in place only on a terminal;
Ctrl-C ends with one line and code 130; --version."""
import argparse
import io
import os
import signal
import subprocess
import sys
import time

import pytest

from halcon_dl import __main__ as cli
from halcon_dl.progress import Progress


def test_help_lists_the_training_options():
    out = subprocess.run([sys.executable, '-m', 'halcon_dl', 'train', '--help'],
                         capture_output=True, text=True, check=True).stdout
    for option in ('--backbone', '--epochs', '--batch-size', '--multiplier', '--solver',
                   '--learning-rate', '--seed', '--runtime'):
        assert option in out


def test_short_run_on_a_small_data_set_prints_progress_and_accuracy(monkeypatch, capsys):
    import halcon_dl.datasets as datasets
    small = datasets.make_shapes_dataset(96, image_size=32, seed=3)
    monkeypatch.setattr(datasets, 'default_dataset', lambda seed=0: (small[:64], small[64:]))
    code = cli.main(['train', '--epochs', '2', '--batch-size', '16', '--multiplier', '2',
                     '--learning-rate', '0.02'])
    captured = capsys.readouterr()
    assert code == 0
    assert captured.out.count('validation accuracy') == 2
    assert 'samples/s' in captured.err and 'epoch 2/2' in captured.err


def test_reported_accuracy_is_one_minus_the_top1_error_of_the_evaluation(monkeypatch, capsys):
    small_data_set(monkeypatch)
    monkeypatch.setattr('halcon_dl.evaluation.evaluate_dl_model',
                        lambda model, samples, measures=None: {'top1_error': 0.125})
    assert cli.main(['train', '--epochs', '1', '--batch-size', '8']) == 0
    assert 'validation accuracy 87.50%' in capsys.readouterr().out


def test_bad_option_values_end_with_an_error_message(monkeypatch, capsys):
    import halcon_dl.datasets as datasets
    small = datasets.make_shapes_dataset(8, image_size=32, seed=1)
    monkeypatch.setattr(datasets, 'default_dataset', lambda seed=0: (small, small))
    assert cli.main(['train', '--epochs', '1', '--learning-rate', '-1']) == 2
    assert 'learning_rate' in capsys.readouterr().err


def small_data_set(monkeypatch, train=32, validation=8):
    import halcon_dl.datasets as datasets
    small = datasets.make_shapes_dataset(train + validation, image_size=32, seed=3)
    monkeypatch.setattr(datasets, 'default_dataset', lambda seed=0: (small[:train], small[train:]))


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize('option, value', [('--epochs', '0'), ('--epochs', '-2'),
                                           ('--batch-size', '0'), ('--multiplier', '-1'),
                                           ('--epochs', 'two')])
def test_counts_below_one_are_argparse_errors(option, value, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(['train', option, value])
    assert exit_.value.code == 2
    assert option in capsys.readouterr().err


def test_a_batch_larger_than_the_training_set_is_a_clear_error(monkeypatch, capsys):
    small_data_set(monkeypatch, train=32)
    assert cli.main(['train', '--epochs', '1', '--batch-size', '20', '--multiplier', '2']) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and err.startswith('error: ')
    assert '20 x 2 = 40 samples' in err and 'the 32 of the training set' in err


def test_progress_in_a_log_is_one_line_per_epoch_without_carriage_returns(monkeypatch, capsys):
    small_data_set(monkeypatch)
    assert cli.main(['train', '--epochs', '3', '--batch-size', '8']) == 0
    err = capsys.readouterr().err
    assert '\r' not in err
    lines = err.splitlines()
    assert [line.split(' 4/4 ')[0] for line in lines] == ['epoch 1/3', 'epoch 2/3', 'epoch 3/3']
    assert all('samples/s, validation top1_error ' in line for line in lines)


def test_progress_on_a_terminal_is_redrawn_in_place(monkeypatch):
    small_data_set(monkeypatch)
    out, terminal = io.StringIO(), FakeTerminal()
    args = cli.parser().parse_args(['train', '--epochs', '2', '--batch-size', '8'])
    cli.train(args, out=out, err=terminal)
    shown = terminal.getvalue()
    # every step, and once more when the epoch's validation measure is known; a line per epoch
    assert shown.count('\r') == 2 * (4 + 1) and shown.count('\n') == 2
    for epoch, epoch_text in enumerate(shown.split('\n')[:2], 1):
        frames = epoch_text.split('\r')[1:]
        assert frames[-1].startswith(frames[-2].rstrip()) and 'validation top1_error' in frames[-1]
        for done, frame in enumerate(frames[:-1], 1):
            assert frame.startswith(f'epoch {epoch}/2 [{"#" * 6 * done}{"." * 6 * (4 - done)}] '
                                    f'{done}/4 running loss ')


def test_progress_pads_a_shorter_line_over_the_longer_one_before():
    terminal = FakeTerminal()
    bar = Progress(terminal)
    bar.update('epoch 1/1', 1, 2, 'loss 10.0000 12345 samples/s')
    bar.update('epoch 1/1', 2, 2, 'loss 1.0000 9 samples/s')
    bar.end_line()
    first, second = terminal.getvalue().rstrip('\n').split('\r')[1:]
    assert len(second) == len(first) and second.rstrip().endswith('9 samples/s')


def test_progress_writes_nothing_until_the_line_ends_when_not_a_terminal():
    log = io.StringIO()
    bar = Progress(log)
    bar.update('epoch 1/2', 1, 3, 'a')
    bar.update('epoch 1/2', 3, 3, 'b')
    assert log.getvalue() == ''
    bar.end_line()
    bar.end_line()                   # no open line: nothing more
    assert log.getvalue() == 'epoch 1/2 3/3 b\n'


def test_ctrl_c_in_a_training_step_ends_with_one_line_and_code_130(monkeypatch, capsys):
    small_data_set(monkeypatch)
    from halcon_dl.model import DLModel
    real_step, calls = DLModel.train_batch, []

    def step(model, batch):
        calls.append(1)
        if len(calls) == 7:          # epoch 2, its third step (4 steps per epoch)
            raise KeyboardInterrupt
        return real_step(model, batch)
    monkeypatch.setattr(DLModel, 'train_batch', step)
    assert cli.main(['train', '--epochs', '5', '--batch-size', '8']) == 130
    captured = capsys.readouterr()
    assert captured.out.count('validation accuracy') == 1
    err = captured.err.splitlines()
    assert err[-1] == 'interrupted in epoch 2/5 after step 2/4'
    assert err[:-1] == [line for line in err[:-1] if line.startswith('epoch ')]  # nothing else
    assert 'Traceback' not in captured.err


def test_ctrl_c_before_training_ends_with_code_130(monkeypatch, capsys):
    import halcon_dl.datasets as datasets

    def interrupted(seed=0):
        raise KeyboardInterrupt
    monkeypatch.setattr(datasets, 'default_dataset', interrupted)
    assert cli.main(['train']) == 130
    assert capsys.readouterr().err == 'interrupted before training started\n'


def test_sigint_during_training_stops_the_process_cleanly():
    # a real Ctrl-C (SIGINT) into a run that uses the thread pool: one line, code 130, no
    # traceback from the main thread or the workers, and the process exits promptly
    script = ('import sys, halcon_dl.datasets as d\n'
              's = d.make_shapes_dataset(40, image_size=64, seed=3)\n'
              'd.default_dataset = lambda seed=0: (s[:32], s[32:])\n'
              'from halcon_dl.__main__ import main\n'
              "sys.exit(main(['train', '--epochs', '1000', '--batch-size', '16']))\n")
    env = dict(os.environ, HALCON_DL_NUM_THREADS='2')
    proc = subprocess.Popen([sys.executable, '-c', script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().startswith('training ')
        time.sleep(0.5)                                  # inside the training steps
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert 'Traceback' not in err and 'Exception' not in err, err
    assert err.splitlines()[-1].startswith('interrupted in epoch '), err


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(['--version'])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f'halcon_dl {halcon_dl_version()}\n'


def halcon_dl_version():
    from importlib.metadata import version
    return version('halcon-dl')


def write_class_folders(root, count=24, size=32):
    """A folder per class with PNG images of shapes (the embedded generator's images)."""
    Image = pytest.importorskip('PIL.Image')
    import numpy as np
    from halcon_dl.datasets import SHAPE_CLASS_NAMES, make_shapes_dataset
    samples = make_shapes_dataset(count, image_size=size, seed=2, value_range=(0.0, 255.0),
                                  noise=0.0)
    for s in samples:
        folder = root / SHAPE_CLASS_NAMES[s['image_label_id']]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.rint(s['image']).astype(np.uint8)).save(folder / f"{s['image_id']}.png")


def test_training_on_a_folder_of_images_with_curves(tmp_path, capsys):
    pytest.importorskip('matplotlib')
    write_class_folders(tmp_path / 'data')
    curves = tmp_path / 'curves.png'
    code = cli.main(['train', '--data', str(tmp_path / 'data'), '--image-size', '24',
                     '--epochs', '2', '--batch-size', '4', '--plot', str(curves)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert 'from ' + str(tmp_path / 'data') in out and '6 classes' in out
    assert out.count('validation accuracy') == 2
    assert curves.stat().st_size > 1000


def test_data_is_refused_for_other_types(tmp_path, capsys):
    assert cli.main(['train', '--type', 'segmentation', '--data', str(tmp_path)]) == 2
    assert 'classification only' in capsys.readouterr().err


def test_save_then_evaluate_and_predict(tmp_path, monkeypatch, capsys):
    small_data_set(monkeypatch)
    path = tmp_path / 'model.npz'
    assert cli.main(['train', '--epochs', '2', '--batch-size', '8', '--save', str(path)]) == 0
    out = capsys.readouterr().out
    assert f'to {path}' in out and path.exists()
    assert cli.main(['evaluate', str(path), '--measures', 'top1_error', 'precision']) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].startswith('top1_error') and 'circle' in table
    Image = pytest.importorskip('PIL.Image')
    import numpy as np
    picture = tmp_path / 'x.png'
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(picture)      # any size: preprocessed
    assert cli.main(['predict', str(path), str(picture), '--top', '2']) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f'{picture}: ') and line.count(',') == 1


def test_evaluate_a_missing_model_file_is_an_error(tmp_path, capsys):
    assert cli.main(['evaluate', str(tmp_path / 'none.npz')]) == 2
    assert capsys.readouterr().err.startswith('error: ')


def small_scenes(monkeypatch, kind):
    """The embedded data set of segmentation or detection replaced by a few 32x32 scenes."""
    import halcon_dl.datasets as datasets
    from halcon_dl.datasets import make_shapes_scenes
    if kind == 'segmentation':
        scenes = make_shapes_scenes(12, 32, seed=1, min_shapes=1, with_segmentation=True)
        monkeypatch.setattr(datasets, 'default_segmentation_dataset',
                            lambda seed=0: (scenes[:8], scenes[8:]))
    else:
        def detection(instance_type='rectangle1', seed=0):
            scenes = make_shapes_scenes(12, 32, seed=1, min_shapes=1, overlap=False,
                                        with_boxes=instance_type, size_range=(8, 16))
            return scenes[:8], scenes[8:]
        monkeypatch.setattr(datasets, 'default_detection_dataset', detection)


@pytest.mark.parametrize('kind, options, shown', [
    ('segmentation', [], ['validation mean IoU', 'pixel accuracy']),
    ('detection', [], ['validation AP@0.5', 'mean AP']),
    ('detection', ['--instance-type', 'rectangle2'], ['validation AP@0.5', 'mean AP'])])
def test_training_command_for_each_model_type_saves_and_predicts(monkeypatch, capsys, tmp_path,
                                                                 kind, options, shown):
    small_scenes(monkeypatch, kind)
    path = tmp_path / 'model.npz'
    code = cli.main(['train', '--type', kind, *options, '--backbone', 'compact', '--epochs', '2',
                     '--batch-size', '4', '--save', str(path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f'training a {kind} model (compact)' in out
    epochs = [line for line in out.splitlines() if line.startswith('epoch ')]
    assert len(epochs) == 2 and all(all(s in line for s in shown) for line in epochs)
    Image = pytest.importorskip('PIL.Image')
    import numpy as np
    picture = tmp_path / 'scene.png'
    Image.fromarray(np.full((48, 48, 3), 40, np.uint8)).save(picture)
    assert cli.main(['predict', str(path), str(picture), '--out', str(tmp_path)]) == 0
    report = capsys.readouterr().out
    if kind == 'segmentation':
        assert (tmp_path / 'scene_segmentation.png').exists() and 'wrote' in report
        assert Image.open(tmp_path / 'scene_segmentation.png').size == (48, 48)
    else:
        assert report.startswith(f'{picture}: ') and 'detections' in report


def test_boxes_are_mapped_back_to_the_image_they_came_from():
    import halcon_dl as hdl
    model = hdl.create_dl_model('detection', class_ids=[0], image_width=32, image_height=32,
                                image_num_channels=3)
    result = {'bbox_row1': [-0.5], 'bbox_col1': [7.5], 'bbox_row2': [31.5], 'bbox_col2': [15.5],
              'bbox_class_id': [0], 'bbox_class_name': ['a'], 'bbox_confidence': [0.9]}
    box = cli.boxes_in_original_image(model, result, (64, 16))[0]
    # rows: factor 32/64, x = (x' + 0.5)/f - 0.5; cols: factor 32/16
    assert (box['row1'], box['row2']) == (-0.5, 63.5)
    assert (box['col1'], box['col2']) == (3.5, 7.5)


@pytest.mark.parametrize('options, message', [
    (['--image-size', '32'], 'apply with --data only'),
    (['--save', '/no/such/dir/m.npz'], '--save /no/such/dir/m.npz: the directory does not exist'),
    (['--plot', '/no/such/dir/c.png'], '--plot /no/such/dir/c.png: the directory does not exist'),
])
def test_output_problems_are_found_before_any_work(monkeypatch, capsys, options, message):
    import halcon_dl.datasets as datasets
    monkeypatch.setattr(datasets, 'default_dataset', lambda seed=0: pytest.fail('data made'))
    assert cli.main(['train', *options]) == 2
    assert message in capsys.readouterr().err


def test_plot_without_matplotlib_is_refused_before_training(monkeypatch, capsys, tmp_path):
    import sys as system
    import halcon_dl.datasets as datasets
    monkeypatch.setattr(datasets, 'default_dataset', lambda seed=0: pytest.fail('data made'))
    monkeypatch.setitem(system.modules, 'matplotlib', None)
    monkeypatch.setitem(system.modules, 'matplotlib.figure', None)
    assert cli.main(['train', '--plot', str(tmp_path / 'c.png')]) == 2
    assert "'plot' extra" in capsys.readouterr().err


def test_a_learning_rate_drop_before_epoch_2_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(['train', '--lr-drop-epochs', '1'])
    assert exit_.value.code == 2 and 'must be >= 2' in capsys.readouterr().err


def test_evaluating_a_model_of_other_classes_asks_for_data(tmp_path, capsys):
    import halcon_dl as hdl
    model = hdl.create_dl_model('classification', class_ids=[0, 1, 2], image_width=64,
                                image_height=64, image_num_channels=3)
    hdl.write_dl_model(model, str(tmp_path / 'm.npz'))
    assert cli.main(['evaluate', str(tmp_path / 'm.npz')]) == 2
    err = capsys.readouterr().err
    assert 'not made for the embedded classification data set' in err and '--data DIR' in err


def test_confusion_matrices_are_printed_with_counts_and_class_names():
    table = cli.format_measures({'top1_error': 0.25, 'absolute_confusion_matrix':
                                 [[3, 1], [0, 1234567]]}, ['cat', 'dog'])
    lines = table.splitlines()
    assert lines[0].startswith('top1_error') and '0.2500' in lines[0]
    assert 'rows: predicted class, columns: ground truth' in table
    assert lines[-1].split() == ['dog', '0', '1234567'] and lines[-3].split() == ['cat', 'dog']
