"""im2col/col2im: the adjoint identity and the window layout, over drawn geometry."""
import numpy as np
from hypothesis import given, settings, strategies as st

from halcon_dl.kernels.conv import Window, col2im, col2im_columns, im2col, is_same_padded, on_grid
from halcon_dl.testing.strategies import arrays, conv_geometry, same_padded_geometry


def window_of(g):
    return Window.make((g['kh'], g['kw']), g['stride'], g['padding'], g['dilation'])


def naive_windows(x, win):
    """cols[c, i, j, n, y, x] = xpad[n, c, s·y + d·i, s·x + d·j], offset by offset from np.pad."""
    n, c, h, w = x.shape
    ho, wo = win.output_size(h, w)
    xpad = np.pad(x, ((0, 0), (0, 0), (win.ph, win.ph), (win.pw, win.pw)))
    cols = np.empty((c, win.kh, win.kw, n, ho, wo), dtype=x.dtype)
    for i in range(win.kh):
        for j in range(win.kw):
            rows = slice(win.dh * i, win.dh * i + win.sh * (ho - 1) + 1, win.sh)
            cs = slice(win.dw * j, win.dw * j + win.sw * (wo - 1) + 1, win.sw)
            cols[:, i, j] = xpad[:, :, rows, cs].transpose(1, 0, 2, 3)
    return cols


def naive_scatter(cols, x_shape, win):
    """Adjoint of naive_windows: each column entry added onto the padded pixel it was read
    from, offset by offset, the padding cut off at the end."""
    n, c, h, w = x_shape
    ho, wo = win.output_size(h, w)
    cols = cols.reshape(c, win.kh, win.kw, n, ho, wo)
    xpad = np.zeros((n, c, h + 2 * win.ph, w + 2 * win.pw))
    for i in range(win.kh):
        for j in range(win.kw):
            rows = slice(win.dh * i, win.dh * i + win.sh * (ho - 1) + 1, win.sh)
            cs = slice(win.dw * j, win.dw * j + win.sw * (wo - 1) + 1, win.sw)
            xpad[:, :, rows, cs] += cols[:, i, j].transpose(1, 0, 2, 3)
    return xpad[:, :, win.ph:win.ph + h, win.pw:win.pw + w]


@settings(max_examples=60)
@given(g=conv_geometry(), data=st.data())
def test_adjoint_identity(g, data):
    """⟨im2col x, c⟩ = ⟨x, col2im(on_grid c)⟩ for all x, c: col2im is exactly im2col's
    transpose."""
    win = Window.make((g['kh'], g['kw']), g['stride'], g['padding'], g['dilation'])
    x = data.draw(arrays((g['n'], g['ci'], g['h'], g['w'])))
    cols_x = im2col(x, win)
    c = data.draw(arrays(cols_x.shape))
    lhs = float((cols_x * c).sum())
    ho, wo = win.output_size(*x.shape[2:])
    rhs = float((x * col2im(col2im_columns(c, win, *x.shape[2:]), x.shape, win)).sum())
    assert abs(lhs - rhs) <= 1e-12 * max(1.0, abs(lhs), float(np.abs(cols_x * c).sum()))


@settings(max_examples=30)
@given(g=conv_geometry(), data=st.data())
def test_on_grid_places_columns_and_zeros(g, data):
    """on_grid(a)[r, (n, y, x)] = a[r, (n, y, x)] for y < Ho, x < Wo and 0 elsewhere on the
    (Hq, Wq) phase grid."""
    win = Window.make((g['kh'], g['kw']), g['stride'], g['padding'], g['dilation'])
    ho, wo = win.output_size(g['h'], g['w'])
    a = data.draw(arrays((3, g['n'] * ho * wo), contiguous=True))
    hq, wq = win.phase_shape(ho, wo)
    grid = on_grid(a, win, ho, wo).reshape(3, g['n'], hq, wq)
    expected = np.zeros((3, g['n'], hq, wq))
    expected[:, :, :ho, :wo] = a.reshape(3, g['n'], ho, wo)
    np.testing.assert_array_equal(grid, expected)


@settings(max_examples=40)
@given(g=conv_geometry(), data=st.data())
def test_im2col_entries_are_the_window_pixels(g, data):
    """cols[(c, i, j), (n, y, x)] = xpad[n, c, s·y + d·i, s·x + d·j], checked entry by entry."""
    win = Window.make((g['kh'], g['kw']), g['stride'], g['padding'], g['dilation'])
    x = data.draw(arrays((g['n'], g['ci'], g['h'], g['w'])))
    n, c, h, w = x.shape
    ho, wo = win.output_size(h, w)
    cols = im2col(x, win).reshape(c, win.kh, win.kw, n, ho, wo)
    xpad = np.pad(x, ((0, 0), (0, 0), (win.ph, win.ph), (win.pw, win.pw)))
    for i in range(win.kh):
        for j in range(win.kw):
            rows = slice(win.dh * i, win.dh * i + win.sh * (ho - 1) + 1, win.sh)
            cs = slice(win.dw * j, win.dw * j + win.sw * (wo - 1) + 1, win.sw)
            np.testing.assert_array_equal(cols[:, i, j], xpad[:, :, rows, cs].transpose(1, 0, 2, 3))


def test_pixels_outside_every_window_get_zero_gradient():
    # stride 3 with a 1x1 kernel reads one pixel in nine; col2im must zero the other eight
    win = Window.make(1, 3, 0)
    x_shape = (1, 1, 7, 7)
    assert is_same_padded(win, 7, 7)             # every pixel read is in the 3x3 output grid
    grad = col2im(col2im_columns(np.ones((1, 9)), win, 7, 7), x_shape, win)
    expected = np.zeros(x_shape)
    expected[..., ::3, ::3] = 1
    np.testing.assert_array_equal(grad, expected)


@settings(max_examples=60)
@given(g=same_padded_geometry(), data=st.data())
def test_same_padded_windows_by_flat_shifts_match_the_padded_input(g, data):
    """'Same' padding takes the flat-shift path (is_same_padded); its im2col equals the windows
    of the padded input entry by entry and its col2im the naive scatter onto them."""
    win = window_of(g)
    x = data.draw(arrays((g['n'], g['ci'], g['h'], g['w'])))
    assert is_same_padded(win, g['h'], g['w'])
    cols = im2col(x, win)
    expected = naive_windows(x, win)
    np.testing.assert_array_equal(cols, expected.reshape(cols.shape))
    c = data.draw(arrays(cols.shape))
    expected_grad = naive_scatter(c, x.shape, win)
    grad = col2im(col2im_columns(c.copy(), win, g['h'], g['w']), x.shape, win)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-13, atol=1e-13)


@settings(max_examples=80)
@given(g=conv_geometry())
def test_is_same_padded_only_where_reads_beyond_the_output_grid_are_padding(g):
    """Where is_same_padded holds, a read at phase position y + δ outside [0, Ho) is always a
    padding row (s·y + d·i - p outside [0, H)), and likewise for columns: what the flat shifts
    rely on."""
    win = window_of(g)
    h, w = g['h'], g['w']
    if not is_same_padded(win, h, w):
        return
    ho, wo = win.output_size(h, w)
    for i, j, _, di, dj in win.shifts():
        for y in range(ho):
            if not 0 <= y + di < ho:
                assert not 0 <= win.sh * y + win.dh * i - win.ph < h
        for x in range(wo):
            if not 0 <= x + dj < wo:
                assert not 0 <= win.sw * x + win.dw * j - win.pw < w


def test_valid_and_same_geometries_take_the_expected_layout():
    """3x3 'valid' needs the phase grid; 3x3 'same' at stride 1 and 2 takes columns as they
    are (col2im_columns hands them through without a copy)."""
    a = np.arange(2 * 4 * 6 * 6, dtype=float).reshape(2, -1)
    assert not is_same_padded(Window.make(3, 1, 0), 8, 8)
    assert col2im_columns(a, Window.make(3, 1, 0), 8, 8).shape == (2, 4 * 8 * 8)
    assert is_same_padded(Window.make(3, 1, 1), 6, 6)
    assert col2im_columns(a, Window.make(3, 1, 1), 6, 6) is a
    assert is_same_padded(Window.make(3, 2, 1), 12, 11)


@settings(max_examples=30)
@given(g=conv_geometry(), extra=st.integers(1, 7), data=st.data())
def test_im2col_rows_appends_zero_rows(g, extra, data):
    """im2col(x, win, rows) is im2col(x, win) with zero rows appended (windows larger than
    1x1; a 1x1 window's matrix may be a view of x and is never padded)."""
    win = window_of(g)
    x = data.draw(arrays((g['n'], g['ci'], g['h'], g['w'])))
    plain = im2col(x, win)
    padded = im2col(x, win, plain.shape[0] + extra)
    if win.kh * win.kw == 1:
        np.testing.assert_array_equal(padded, plain)
        return
    assert padded.shape == (plain.shape[0] + extra, plain.shape[1])
    np.testing.assert_array_equal(padded[:plain.shape[0]], plain)
    assert not padded[plain.shape[0]:].any()
