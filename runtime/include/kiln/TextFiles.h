//===- TextFiles.h - text data from files: text_dataset_from_directory, loadtxt -===//
#ifndef KILN_TEXTFILES_H
#define KILN_TEXTFILES_H

#include "kiln/Array.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace kiln::utils {

struct TextDatasetOptions {
  /// "inferred": the class of a file is its subdirectory of `directory` (classes in
  /// alphanumeric order); "none": no labels (files found anywhere below `directory`);
  /// "list": `label_list`, one label per file in the alphanumeric order of their paths.
  std::string labels = "inferred";
  std::vector<int64_t> label_list;
  /// "int" (N), "categorical" (N, classes) one-hot, "binary" (N, 1) with exactly 2 classes,
  /// or "none".
  std::string label_mode = "int";
  /// With labels "inferred": the subdirectories to use, in this order (their indices are the
  /// labels); empty: every subdirectory.
  std::vector<std::string> class_names;
  /// Texts per batch; 0: one batch of everything (Keras' batch_size=None is unbatched).
  int64_t batch_size = 32;
  /// Texts longer than this many bytes are cut to it.
  std::optional<int64_t> max_length;
  bool shuffle = true;
  /// The file order's shuffle: numpy's RandomState(seed).shuffle, as Keras' index_directory
  /// draws it. Needed with shuffle and validation_split; unset: drawn at random.
  std::optional<uint32_t> seed;
  /// The last fraction of the (shuffled) files is the validation subset.
  double validation_split = 0.0;
  /// "training" or "validation" with validation_split; "" otherwise.
  std::string subset;
  bool follow_links = false;
  /// Print Keras' "Found N files belonging to C classes." and "Using M files for training.".
  bool verbose = true;
};

/// Texts and labels as Keras' text_dataset_from_directory yields them (before its tf.data
/// shuffle buffer, which kiln does not reproduce: batches come in the file order).
struct TextDataset {
  std::vector<std::string> texts;
  /// Per labels mode: shape (N) class ids, (N, classes) one-hot, (N, 1) 0/1; shape {} without
  /// labels.
  Array labels;
  std::vector<std::string> class_names;
  /// The files, in the order of `texts`.
  std::vector<std::string> file_paths;
  int64_t batch_size = 0;

  int64_t size() const { return static_cast<int64_t>(texts.size()); }
  int64_t num_batches() const;
  /// Batch `i`: its texts and its rows of `labels`.
  std::pair<std::vector<std::string>, Array> batch(int64_t i) const;
};

/// Reads every .txt file (the extension in any case) under `directory`, as Keras'
/// keras.utils.text_dataset_from_directory. Throws std::invalid_argument for bad options and
/// std::runtime_error("kiln: <path>: ...") for a missing directory, no files, or a file that
/// cannot be read.
TextDataset text_dataset_from_directory(const std::string &directory,
                                        TextDatasetOptions options = {});
/// subset "both": the training and the validation datasets of one shuffle.
std::pair<TextDataset, TextDataset> text_dataset_from_directory_both(const std::string &directory,
                                                                     TextDatasetOptions options);

/// numpy's RandomState(seed).shuffle order of `n` items (MT19937 seeded by init_genrand, each
/// swap index drawn by numpy's masked rejection sampling): item i of the result is the index
/// of the original item that lands at position i.
std::vector<int64_t> numpy_shuffle_order(int64_t n, uint32_t seed);

struct LoadtxtOptions {
  /// The field separator; unset: runs of whitespace.
  std::optional<char> delimiter;
  /// Text from this marker to the end of a line is ignored; empty: none.
  std::string comments = "#";
  /// Lines skipped at the start (comment lines included).
  int64_t skiprows = 0;
  /// The columns to read (negative: from the end); empty: all.
  std::vector<int64_t> usecols;
  /// 0: axes of length 1 squeezed away, 1: at least 1-D, 2: always (rows, columns).
  int ndmin = 0;
  /// Data rows to read at most (after skiprows; blank and comment lines do not count).
  std::optional<int64_t> max_rows;
};

/// A numeric text file (CSV or whitespace-separated) as numpy.loadtxt reads it, as float32.
/// Throws std::runtime_error("kiln: <path>:<line>: ...") for a field that is not a number or
/// a row whose column count differs from the first, and std::invalid_argument for bad options.
Array loadtxt(const std::string &path, LoadtxtOptions options = {});

} // namespace kiln::utils

#endif // KILN_TEXTFILES_H
