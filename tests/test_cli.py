"""python -m halcon_dl: --help lists the options; a short run trains and reports accuracy."""
import subprocess
import sys

import pytest

from halcon_dl import __main__ as cli


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


def test_accuracy_counts_top_class_hits(monkeypatch):
    import halcon_dl as hdl
    from halcon_dl.testing.models import random_samples
    m = hdl.create_dl_model('classification', class_ids=[4, 5], image_width=6, image_height=6,
                            image_num_channels=3)
    samples = random_samples(m, 4)
    m.parameters()['fc.weight'][...] = 0
    m.parameters()['fc.bias'][...] = [1.0, 0.0]            # always predicts class 4
    assert cli.accuracy(m, samples) == pytest.approx(sum(s['image_label_id'] == 4 for s in samples) / 4)


def test_bad_option_values_end_with_an_error_message(monkeypatch, capsys):
    import halcon_dl.datasets as datasets
    small = datasets.make_shapes_dataset(8, image_size=32, seed=1)
    monkeypatch.setattr(datasets, 'default_dataset', lambda seed=0: (small, small))
    assert cli.main(['train', '--epochs', '1', '--learning-rate', '-1']) == 2
    assert 'learning_rate' in capsys.readouterr().err
