//===- Text.cpp - pad_sequences and Tokenizer, as Keras computes them ------===//
#include "kiln/Text.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <stdexcept>

namespace kiln::utils {

Array pad_sequences(const std::vector<std::vector<float>> &sequences, PadSequencesOptions o) {
  if (o.padding != "pre" && o.padding != "post")
    throw std::invalid_argument("pad_sequences: padding \"" + o.padding +
                                "\" not understood (\"pre\" or \"post\")");
  if (o.truncating != "pre" && o.truncating != "post")
    throw std::invalid_argument("pad_sequences: truncating \"" + o.truncating +
                                "\" not understood (\"pre\" or \"post\")");
  int64_t maxlen = 0;
  if (o.maxlen) {
    if (*o.maxlen < 0)
      throw std::invalid_argument("pad_sequences: maxlen must be >= 0");
    maxlen = *o.maxlen;
  } else {
    for (const auto &s : sequences)
      maxlen = std::max<int64_t>(maxlen, static_cast<int64_t>(s.size()));
  }
  int64_t n = static_cast<int64_t>(sequences.size());
  Array out({n, maxlen}, std::vector<float>(static_cast<size_t>(n * maxlen), o.value));
  if (n * maxlen == 0)
    out.data.clear(), out.data.resize(static_cast<size_t>(n * maxlen));
  for (int64_t i = 0; i < n; ++i) {
    const auto &s = sequences[i];
    int64_t len = static_cast<int64_t>(s.size()), keep = std::min(len, maxlen);
    int64_t from = o.truncating == "pre" ? len - keep : 0;
    int64_t to = o.padding == "post" ? 0 : maxlen - keep;
    std::copy(s.begin() + from, s.begin() + from + keep, out.data.begin() + i * maxlen + to);
  }
  return out;
}

std::vector<std::string> text_to_word_sequence(const std::string &text, const std::string &filters,
                                               bool lower, const std::string &split) {
  std::string t = text;
  if (lower)
    for (char &c : t)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string mapped;
  for (char c : t)
    mapped += filters.find(c) != std::string::npos ? split : std::string(1, c);
  std::vector<std::string> out;
  if (split.empty())
    throw std::invalid_argument("text_to_word_sequence: split must not be empty");
  size_t pos = 0;
  while (pos <= mapped.size()) {
    size_t next = mapped.find(split, pos);
    if (next == std::string::npos)
      next = mapped.size();
    if (next > pos)
      out.push_back(mapped.substr(pos, next - pos));
    pos = next + split.size();
  }
  return out;
}

std::vector<std::string> Tokenizer::words(const std::string &text) const {
  if (!options.char_level)
    return text_to_word_sequence(text, options.filters, options.lower, options.split);
  std::vector<std::string> out;
  for (char c : text)
    out.emplace_back(1, options.lower ? static_cast<char>(std::tolower(static_cast<unsigned char>(c)))
                                      : c);
  return out;
}

void Tokenizer::fit_on_texts(const std::vector<std::string> &texts) {
  std::unordered_map<std::string, size_t> position;
  for (size_t i = 0; i < word_counts.size(); ++i)
    position[word_counts[i].first] = i;
  for (const std::string &text : texts) {
    ++document_count;
    std::vector<std::string> seq = words(text);
    for (const std::string &w : seq) {
      auto [it, fresh] = position.try_emplace(w, word_counts.size());
      if (fresh)
        word_counts.emplace_back(w, 0);
      ++word_counts[it->second].second;
    }
    for (const std::string &w : std::set<std::string>(seq.begin(), seq.end()))
      ++word_docs[w];
  }
  // Python's sort is stable: equal counts keep their first-appearance order.
  std::vector<std::pair<std::string, int64_t>> sorted = word_counts;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto &a, const auto &b) { return a.second > b.second; });
  word_index.clear(), index_word.clear(), index_docs.clear();
  std::vector<std::string> vocab;
  if (options.oov_token)
    vocab.push_back(*options.oov_token);
  for (const auto &[w, c] : sorted)
    vocab.push_back(w);
  for (size_t i = 0; i < vocab.size(); ++i) {
    // Python's dict(zip(...)) keeps the last index of a repeated key (an oov_token that is
    // also a word).
    word_index[vocab[i]] = static_cast<int64_t>(i + 1);
    index_word[static_cast<int64_t>(i + 1)] = vocab[i];
  }
  for (const auto &[w, c] : word_docs)
    index_docs[word_index.at(w)] = c;
}

std::vector<std::vector<int64_t>>
Tokenizer::texts_to_sequences(const std::vector<std::string> &texts) const {
  std::optional<int64_t> oov;
  if (options.oov_token) {
    auto it = word_index.find(*options.oov_token);
    if (it != word_index.end())
      oov = it->second;
  }
  std::vector<std::vector<int64_t>> out;
  for (const std::string &text : texts) {
    std::vector<int64_t> v;
    for (const std::string &w : words(text)) {
      auto it = word_index.find(w);
      if (it != word_index.end()) {
        if (options.num_words && it->second >= options.num_words) {
          if (oov)
            v.push_back(*oov);
        } else {
          v.push_back(it->second);
        }
      } else if (options.oov_token && oov) {
        v.push_back(*oov);
      }
    }
    out.push_back(std::move(v));
  }
  return out;
}

std::vector<std::string>
Tokenizer::sequences_to_texts(const std::vector<std::vector<int64_t>> &seqs) const {
  std::optional<int64_t> oov;
  if (options.oov_token && word_index.count(*options.oov_token))
    oov = word_index.at(*options.oov_token);
  std::vector<std::string> out;
  for (const auto &seq : seqs) {
    std::vector<std::string> ws;
    for (int64_t i : seq) {
      auto it = index_word.find(i);
      if (it != index_word.end()) {
        if (options.num_words && i >= options.num_words) {
          if (oov)
            ws.push_back(index_word.at(*oov));
        } else {
          ws.push_back(it->second);
        }
      } else if (oov) {
        ws.push_back(index_word.at(*oov));
      }
    }
    std::string s;
    for (size_t k = 0; k < ws.size(); ++k)
      s += (k ? " " : "") + ws[k];
    out.push_back(s);
  }
  return out;
}

Array Tokenizer::sequences_to_matrix(const std::vector<std::vector<int64_t>> &sequences,
                                     const std::string &mode) const {
  if (mode != "binary" && mode != "count" && mode != "freq" && mode != "tfidf")
    throw std::invalid_argument("Tokenizer::sequences_to_matrix: unknown mode \"" + mode + "\"");
  int64_t num = options.num_words;
  if (!num) {
    if (word_index.empty())
      throw std::invalid_argument("Tokenizer::sequences_to_matrix: specify num_words, or fit "
                                  "on some data first");
    num = static_cast<int64_t>(word_index.size()) + 1;
  }
  if (mode == "tfidf" && !document_count)
    throw std::invalid_argument("Tokenizer::sequences_to_matrix: fit before using tfidf mode");
  int64_t n = static_cast<int64_t>(sequences.size());
  Array x({n, num});
  for (int64_t i = 0; i < n; ++i) {
    const auto &seq = sequences[i];
    if (seq.empty())
      continue;
    std::map<int64_t, int64_t> counts;
    for (int64_t j : seq)
      if (j < num)
        ++counts[j];
    for (const auto &[j, c] : counts) {
      double v = 1.0;
      if (mode == "count")
        v = double(c);
      else if (mode == "freq")
        v = double(c) / double(seq.size());
      else if (mode == "tfidf") {
        auto it = index_docs.find(j);
        double docs = it == index_docs.end() ? 0.0 : double(it->second);
        v = (1.0 + std::log(double(c))) * std::log(1.0 + double(document_count) / (1.0 + docs));
      }
      x.data[i * num + j] = float(v);
    }
  }
  return x;
}

} // namespace kiln::utils
