//===- Image.h - image augmentation on NHWC arrays (ImageDataGenerator, Keras' image layers) -===//
#ifndef KILN_IMAGE_H
#define KILN_IMAGE_H

#include "kiln/Array.h"

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <utility>

namespace kiln::image {

/// Keras' apply_affine_transform on one image (H, W, C) or each image of (N, H, W, C): the
/// output pixel at (x = column, y = row) samples the input at M * (x, y) about the image
/// center, M = rotation(theta degrees) * shift(tx columns, ty rows) * shear(degrees) *
/// zoom(zx, zy); bilinear; outside the input: fill_mode "nearest", "constant" (cval),
/// "reflect" or "wrap".
struct AffineOptions {
  double theta = 0, tx = 0, ty = 0, shear = 0, zx = 1, zy = 1;
  std::string fill_mode = "nearest";
  float cval = 0;
};
Array apply_affine_transform(const Array &x, const AffineOptions &t);

/// Mirrors columns (horizontal) and/or rows (vertical).
Array flip(const Array &x, bool horizontal, bool vertical);

/// The (height, width) window at the center (Keras' CenterCrop); an image smaller than that is
/// smart-resized instead, as Keras does.
Array center_crop(const Array &x, int64_t height, int64_t width);

/// Keras' smart_resize: the largest centered crop with the target's aspect ratio, resized
/// bilinearly (half-pixel centers, as tf.image.resize) to (height, width).
Array smart_resize(const Array &x, int64_t height, int64_t width);

/// Bilinear resize with half-pixel centers (tf.image.resize, antialias off).
Array resize(const Array &x, int64_t height, int64_t width);

/// ImageDataGenerator-style random augmentation, one draw per image, reproducible from `seed`.
struct AugmentOptions {
  double rotation_range = 0;  ///< degrees: theta ~ U(-r, r)
  double width_shift_range = 0, height_shift_range = 0; ///< < 1: fraction of the size; else pixels
  double shear_range = 0;     ///< degrees
  std::pair<double, double> zoom_range = {1, 1}; ///< zx, zy ~ U(lo, hi) each
  bool horizontal_flip = false, vertical_flip = false;
  std::optional<std::pair<double, double>> brightness_range; ///< x * U(lo, hi)
  /// Keras' RandomContrast factor: (x - mean) * U(1 - f, 1 + f) + mean, per image and channel.
  double contrast = 0;
  /// A random (height, width) window (Keras' RandomCrop), applied last.
  std::optional<std::pair<int64_t, int64_t>> crop;
  std::string fill_mode = "nearest";
  float cval = 0;
  uint64_t seed = 0;
};

class ImageAugmenter {
public:
  explicit ImageAugmenter(AugmentOptions options = {}) : options(options), rng(options.seed) {}
  /// A randomly transformed copy of each image of `x` (N, H, W, C).
  Array augment(const Array &x);
  AugmentOptions options;
  std::mt19937_64 rng;
};

} // namespace kiln::image

#endif // KILN_IMAGE_H
