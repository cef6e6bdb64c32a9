"""im2col/col2im: the adjoint identity and the window layout, over drawn geometry."""
import numpy as np
from hypothesis import given, settings, strategies as st

from halcon_dl.kernels.conv import Window, col2im, im2col, on_grid
from halcon_dl.testing.strategies import arrays, conv_geometry


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
    rhs = float((x * col2im(on_grid(c, win, ho, wo), x.shape, win)).sum())
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
    grad = col2im(on_grid(np.ones((1, 9)), win, 3, 3), x_shape, win)
    expected = np.zeros(x_shape)
    expected[..., ::3, ::3] = 1
    np.testing.assert_array_equal(grad, expected)
