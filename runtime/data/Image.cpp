//===- Image.cpp - affine transforms, flips, crops and resizes of NHWC arrays -===//
#include "kiln/Image.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace kiln::image {
namespace {

struct Dims {
  int64_t n, h, w, c;
  bool single;
};

Dims dims(const Array &x, const char *who) {
  if (x.rank() == 3)
    return {1, x.shape[0], x.shape[1], x.shape[2], true};
  if (x.rank() == 4)
    return {x.shape[0], x.shape[1], x.shape[2], x.shape[3], false};
  throw std::invalid_argument(std::string("kiln::image::") + who +
                              ": expects (H, W, C) or (N, H, W, C), got " +
                              Array::shapeString(x.shape));
}

Array make(const Dims &d, int64_t h, int64_t w) {
  return d.single ? Array({h, w, d.c}) : Array({d.n, h, w, d.c});
}

/// An index outside [0, n) mapped by scipy.ndimage's mode; -1: use cval.
int64_t mapIndex(int64_t i, int64_t n, const std::string &mode) {
  if (i >= 0 && i < n)
    return i;
  if (mode == "nearest")
    return std::clamp<int64_t>(i, 0, n - 1);
  if (mode == "wrap")
    return ((i % n) + n) % n;
  if (mode == "reflect") { // d c b a | a b c d | d c b a
    int64_t p = 2 * n;
    i = ((i % p) + p) % p;
    return i < n ? i : p - 1 - i;
  }
  return -1;
}

Array crop(const Array &x, const Dims &d, int64_t top, int64_t left, int64_t h, int64_t w) {
  Array out = make(d, h, w);
  for (int64_t b = 0; b < d.n; ++b)
    for (int64_t r = 0; r < h; ++r)
      std::copy_n(x.ptr() + ((b * d.h + top + r) * d.w + left) * d.c, w * d.c,
                  out.ptr() + (b * h + r) * w * d.c);
  return out;
}

/// One image's pixels (H*W*C floats at `in`) through the 3x3 matrix m (pull mapping).
void affine(const float *in, float *out, const Dims &d, const double m[3][3],
            const std::string &mode, float cval) {
  for (int64_t r = 0; r < d.h; ++r)
    for (int64_t col = 0; col < d.w; ++col) {
      double sx = m[0][0] * col + m[0][1] * r + m[0][2];
      double sy = m[1][0] * col + m[1][1] * r + m[1][2];
      int64_t x0 = int64_t(std::floor(sx)), y0 = int64_t(std::floor(sy));
      double fx = sx - x0, fy = sy - y0;
      for (int64_t ch = 0; ch < d.c; ++ch) {
        double v = 0;
        for (int dy = 0; dy < 2; ++dy)
          for (int dx = 0; dx < 2; ++dx) {
            double wgt = (dy ? fy : 1 - fy) * (dx ? fx : 1 - fx);
            if (wgt == 0)
              continue;
            int64_t yy = mapIndex(y0 + dy, d.h, mode), xx = mapIndex(x0 + dx, d.w, mode);
            v += wgt * (yy < 0 || xx < 0 ? cval : in[(yy * d.w + xx) * d.c + ch]);
          }
        out[(r * d.w + col) * d.c + ch] = float(v);
      }
    }
}

void matmul(double a[3][3], const double b[3][3]) {
  double t[3][3] = {};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k)
        t[i][j] += a[i][k] * b[k][j];
  std::copy(&t[0][0], &t[0][0] + 9, &a[0][0]);
}

} // namespace

Array apply_affine_transform(const Array &x, const AffineOptions &t) {
  Dims d = dims(x, "apply_affine_transform");
  if (t.fill_mode != "nearest" && t.fill_mode != "constant" && t.fill_mode != "reflect" &&
      t.fill_mode != "wrap")
    throw std::invalid_argument("kiln::image::apply_affine_transform: fill_mode \"" +
                                t.fill_mode + "\" (nearest, constant, reflect or wrap)");
  const double pi = 3.14159265358979323846;
  double th = t.theta * pi / 180, sh = t.shear * pi / 180;
  // Keras composes in (x, y) = (column, row) coordinates, then centers on the middle pixel.
  double cx = double(d.w) / 2 - 0.5, cy = double(d.h) / 2 - 0.5;
  double m[3][3] = {{1, 0, cx}, {0, 1, cy}, {0, 0, 1}};
  const double rot[3][3] = {{std::cos(th), -std::sin(th), 0}, {std::sin(th), std::cos(th), 0}, {0, 0, 1}};
  const double shift[3][3] = {{1, 0, t.tx}, {0, 1, t.ty}, {0, 0, 1}};
  const double shear[3][3] = {{1, -std::sin(sh), 0}, {0, std::cos(sh), 0}, {0, 0, 1}};
  const double zoom[3][3] = {{t.zx, 0, 0}, {0, t.zy, 0}, {0, 0, 1}};
  const double reset[3][3] = {{1, 0, -cx}, {0, 1, -cy}, {0, 0, 1}};
  matmul(m, rot), matmul(m, shift), matmul(m, shear), matmul(m, zoom), matmul(m, reset);
  Array out(x.shape);
  int64_t img = d.h * d.w * d.c;
  for (int64_t b = 0; b < d.n; ++b)
    affine(x.ptr() + b * img, out.ptr() + b * img, d, m, t.fill_mode, t.cval);
  return out;
}

Array flip(const Array &x, bool horizontal, bool vertical) {
  Dims d = dims(x, "flip");
  Array out(x.shape);
  for (int64_t b = 0; b < d.n; ++b)
    for (int64_t r = 0; r < d.h; ++r)
      for (int64_t c = 0; c < d.w; ++c) {
        int64_t sr = vertical ? d.h - 1 - r : r, sc = horizontal ? d.w - 1 - c : c;
        std::copy_n(x.ptr() + ((b * d.h + sr) * d.w + sc) * d.c, d.c,
                    out.ptr() + ((b * d.h + r) * d.w + c) * d.c);
      }
  return out;
}

Array resize(const Array &x, int64_t height, int64_t width) {
  Dims d = dims(x, "resize");
  if (height <= 0 || width <= 0)
    throw std::invalid_argument("kiln::image::resize: the size must be positive");
  Array out = make(d, height, width);
  double sy = double(d.h) / height, sx = double(d.w) / width;
  for (int64_t b = 0; b < d.n; ++b)
    for (int64_t r = 0; r < height; ++r) {
      double iy = (r + 0.5) * sy - 0.5, fy = std::floor(iy);
      int64_t y0 = std::max<int64_t>(int64_t(fy), 0), y1 = std::min<int64_t>(int64_t(std::ceil(iy)), d.h - 1);
      double ly = iy - fy;
      for (int64_t c = 0; c < width; ++c) {
        double ix = (c + 0.5) * sx - 0.5, fx = std::floor(ix);
        int64_t x0 = std::max<int64_t>(int64_t(fx), 0), x1 = std::min<int64_t>(int64_t(std::ceil(ix)), d.w - 1);
        double lx = ix - fx;
        for (int64_t ch = 0; ch < d.c; ++ch) {
          auto at = [&](int64_t yy, int64_t xx) {
            return double(x.data[((b * d.h + yy) * d.w + xx) * d.c + ch]);
          };
          double top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * lx;
          double bot = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * lx;
          out.data[((b * height + r) * width + c) * d.c + ch] = float(top + (bot - top) * ly);
        }
      }
    }
  return out;
}

Array smart_resize(const Array &x, int64_t height, int64_t width) {
  Dims d = dims(x, "smart_resize");
  if (height <= 0 || width <= 0)
    throw std::invalid_argument("kiln::image::smart_resize: the size must be positive");
  int64_t ch = std::min<int64_t>(d.h, int64_t(float(d.w * height) / float(width)));
  int64_t cw = std::min<int64_t>(d.w, int64_t(float(d.h * width) / float(height)));
  int64_t top = int64_t(float(d.h - ch) / 2), left = int64_t(float(d.w - cw) / 2);
  return resize(crop(x, d, top, left, ch, cw), height, width);
}

Array center_crop(const Array &x, int64_t height, int64_t width) {
  Dims d = dims(x, "center_crop");
  if (height <= 0 || width <= 0)
    throw std::invalid_argument("kiln::image::center_crop: the size must be positive");
  if (d.h < height || d.w < width)
    return smart_resize(x, height, width);
  return crop(x, d, (d.h - height) / 2, (d.w - width) / 2, height, width);
}

Array ImageAugmenter::augment(const Array &x) {
  Dims d = dims(x, "ImageAugmenter::augment");
  const AugmentOptions &o = options;
  auto uniform = [&](double lo, double hi) {
    return lo == hi ? lo : std::uniform_real_distribution<double>(lo, hi)(rng);
  };
  auto coin = [&] { return std::uniform_real_distribution<double>(0, 1)(rng) < 0.5; };
  Array out(x.shape);
  int64_t img = d.h * d.w * d.c;
  for (int64_t b = 0; b < d.n; ++b) {
    Array im({d.h, d.w, d.c}, std::vector<float>(x.data.begin() + b * img,
                                                 x.data.begin() + (b + 1) * img));
    AffineOptions t;
    t.theta = o.rotation_range ? uniform(-o.rotation_range, o.rotation_range) : 0;
    double ws = o.width_shift_range, hs = o.height_shift_range;
    t.tx = ws ? uniform(-ws, ws) * (ws < 1 ? d.w : 1) : 0;
    t.ty = hs ? uniform(-hs, hs) * (hs < 1 ? d.h : 1) : 0;
    t.shear = o.shear_range ? uniform(-o.shear_range, o.shear_range) : 0;
    t.zx = uniform(o.zoom_range.first, o.zoom_range.second);
    t.zy = uniform(o.zoom_range.first, o.zoom_range.second);
    t.fill_mode = o.fill_mode, t.cval = o.cval;
    bool fh = o.horizontal_flip && coin(), fv = o.vertical_flip && coin();
    if (t.theta || t.tx || t.ty || t.shear || t.zx != 1 || t.zy != 1)
      im = apply_affine_transform(im, t);
    if (fh || fv)
      im = flip(im, fh, fv);
    if (o.brightness_range) {
      float f = float(uniform(o.brightness_range->first, o.brightness_range->second));
      for (float &v : im.data)
        v *= f;
    }
    if (o.contrast) {
      double f = uniform(1 - o.contrast, 1 + o.contrast);
      for (int64_t c = 0; c < d.c; ++c) {
        double mean = 0;
        for (int64_t p = 0; p < d.h * d.w; ++p)
          mean += im.data[p * d.c + c];
        mean /= double(d.h * d.w);
        for (int64_t p = 0; p < d.h * d.w; ++p)
          im.data[p * d.c + c] = float((im.data[p * d.c + c] - mean) * f + mean);
      }
    }
    std::copy(im.data.begin(), im.data.end(), out.data.begin() + b * img);
  }
  if (o.crop) {
    auto [h, w] = *o.crop;
    if (d.h < h || d.w < w)
      return smart_resize(out, h, w);
    Array cropped = make(d, h, w);
    for (int64_t b = 0; b < d.n; ++b) {
      int64_t top = std::uniform_int_distribution<int64_t>(0, d.h - h)(rng);
      int64_t left = std::uniform_int_distribution<int64_t>(0, d.w - w)(rng);
      Dims single{1, d.h, d.w, d.c, true};
      Array im({d.h, d.w, d.c}, std::vector<float>(out.data.begin() + b * img,
                                                   out.data.begin() + (b + 1) * img));
      Array c = crop(im, single, top, left, h, w);
      std::copy(c.data.begin(), c.data.end(), cropped.data.begin() + b * h * w * d.c);
    }
    return cropped;
  }
  return out;
}

} // namespace kiln::image
