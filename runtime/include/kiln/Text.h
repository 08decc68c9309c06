//===- Text.h - Keras' text utilities: pad_sequences and Tokenizer ---------===//
#ifndef KILN_TEXT_H
#define KILN_TEXT_H

#include "kiln/Array.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace kiln::utils {

struct PadSequencesOptions {
  /// The row length; unset: the longest sequence.
  std::optional<int64_t> maxlen;
  /// "pre" or "post": where the padding goes.
  std::string padding = "pre";
  /// "pre" or "post": which end of a longer sequence is dropped.
  std::string truncating = "pre";
  float value = 0.0f;
};

/// Sequences of ids as one (N, maxlen) array, padded and truncated as Keras' pad_sequences
/// (float32 values; Keras' default dtype is int32). Throws std::invalid_argument for a bad
/// padding or truncating.
Array pad_sequences(const std::vector<std::vector<float>> &sequences,
                    PadSequencesOptions options = {});

struct TokenizerOptions {
  /// Only the num_words - 1 most frequent words are used by texts_to_sequences and
  /// sequences_to_matrix; 0: all.
  int64_t num_words = 0;
  std::string filters = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n";
  bool lower = true;
  std::string split = " ";
  bool char_level = false;
  std::optional<std::string> oov_token;
};

/// Keras' (legacy keras.preprocessing.text) Tokenizer: word_index ranks words by count, ties in
/// order of first appearance, from 1 (the oov_token, if any, is 1).
class Tokenizer {
public:
  explicit Tokenizer(TokenizerOptions options = {}) : options(std::move(options)) {}

  void fit_on_texts(const std::vector<std::string> &texts);
  std::vector<std::vector<int64_t>> texts_to_sequences(const std::vector<std::string> &texts) const;
  std::vector<std::string> sequences_to_texts(const std::vector<std::vector<int64_t>> &seqs) const;
  /// mode: "binary", "count", "freq" or "tfidf", as Keras computes them.
  Array sequences_to_matrix(const std::vector<std::vector<int64_t>> &sequences,
                            const std::string &mode = "binary") const;
  Array texts_to_matrix(const std::vector<std::string> &texts,
                        const std::string &mode = "binary") const {
    return sequences_to_matrix(texts_to_sequences(texts), mode);
  }

  TokenizerOptions options;
  /// Words in order of first appearance, with their counts (Keras' OrderedDict).
  std::vector<std::pair<std::string, int64_t>> word_counts;
  std::unordered_map<std::string, int64_t> word_docs, word_index;
  std::map<int64_t, std::string> index_word;
  std::map<int64_t, int64_t> index_docs;
  int64_t document_count = 0;

private:
  std::vector<std::string> words(const std::string &text) const;
};

/// Keras' text_to_word_sequence: lowercases, turns each filter character into `split`, splits
/// and drops empty pieces.
std::vector<std::string> text_to_word_sequence(
    const std::string &text, const std::string &filters = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n",
    bool lower = true, const std::string &split = " ");

} // namespace kiln::utils

#endif // KILN_TEXT_H
