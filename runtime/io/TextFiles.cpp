//===- TextFiles.cpp - text_dataset_from_directory and loadtxt -------------===//
#include "kiln/TextFiles.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace kiln::utils {

namespace {

[[noreturn]] void badOption(const std::string &message) {
  throw std::invalid_argument("kiln::utils::text_dataset_from_directory: " + message);
}

[[noreturn]] void fileError(const std::string &path, const std::string &message) {
  throw std::runtime_error("kiln: " + path + ": " + message);
}

std::string lowered(std::string s) {
  for (char &c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

/// The .txt files below `dir`, in Keras' order: sorted by (folder, file name) as
/// sorted(os.walk(...)) gives them.
std::vector<std::string> listTextFiles(const fs::path &dir, bool followLinks) {
  std::vector<std::pair<std::string, std::string>> found;
  auto opts = followLinks ? fs::directory_options::follow_directory_symlink
                          : fs::directory_options::none;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, opts, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (!it->is_regular_file(ec))
      continue;
    std::string name = it->path().filename().string();
    std::string lower = lowered(name);
    if (lower.size() >= 4 && lower.compare(lower.size() - 4, 4, ".txt") == 0)
      found.emplace_back(it->path().parent_path().string(), name);
  }
  if (ec)
    fileError(dir.string(), "cannot list the directory: " + ec.message());
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (const auto &[root, name] : found)
    out.push_back((fs::path(root) / name).string());
  return out;
}

std::string readFile(const std::string &path, std::optional<int64_t> maxLength) {
  std::ifstream is(path, std::ios::binary);
  if (!is)
    fileError(path, "cannot be read");
  std::ostringstream ss;
  ss << is.rdbuf();
  if (is.bad())
    fileError(path, "read error");
  std::string s = ss.str();
  if (maxLength && static_cast<int64_t>(s.size()) > *maxLength)
    s.resize(static_cast<size_t>(*maxLength));
  return s;
}

/// numpy's random_interval(max): a uniform integer in [0, max] by masked rejection.
uint32_t randomInterval(std::mt19937 &rng, uint32_t max) {
  if (max == 0)
    return 0;
  uint32_t mask = max;
  mask |= mask >> 1, mask |= mask >> 2, mask |= mask >> 4, mask |= mask >> 8,
      mask |= mask >> 16;
  uint32_t v;
  while ((v = (static_cast<uint32_t>(rng()) & mask)) > max) {
  }
  return v;
}

struct Indexed {
  std::vector<std::string> files;
  std::vector<int64_t> labels; // empty without labels
  std::vector<std::string> classNames;
};

Indexed indexDirectory(const std::string &directory, const TextDatasetOptions &o) {
  fs::path dir(directory);
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    fileError(directory, "is not a directory");
  Indexed out;
  if (o.labels == "inferred") {
    std::vector<std::string> subdirs;
    for (const auto &e : fs::directory_iterator(dir, ec)) {
      std::string name = e.path().filename().string();
      if (e.is_directory() && !name.empty() && name[0] != '.')
        subdirs.push_back(name);
    }
    std::sort(subdirs.begin(), subdirs.end());
    if (!o.class_names.empty()) {
      for (const std::string &c : o.class_names)
        if (std::find(subdirs.begin(), subdirs.end(), c) == subdirs.end())
          badOption("class_names " + c + " is not a subdirectory of " + directory);
      subdirs = o.class_names; // their order gives the labels
    }
    out.classNames = subdirs;
    for (size_t k = 0; k < subdirs.size(); ++k)
      for (std::string &f : listTextFiles(dir / subdirs[k], o.follow_links)) {
        out.files.push_back(std::move(f));
        out.labels.push_back(static_cast<int64_t>(k));
      }
  } else {
    out.files = listTextFiles(dir, o.follow_links);
    if (o.labels == "list") {
      if (o.label_list.size() != out.files.size())
        badOption("label_list has " + std::to_string(o.label_list.size()) +
                  " labels, but there are " + std::to_string(out.files.size()) +
                  " .txt files under " + directory);
      out.labels = o.label_list;
      std::set<int64_t> distinct(o.label_list.begin(), o.label_list.end());
      for (int64_t l : distinct)
        out.classNames.push_back(std::to_string(l));
    }
  }
  if (out.files.empty())
    fileError(directory, "no text files found (kiln reads .txt files, as Keras does)");
  return out;
}

void checkOptions(const TextDatasetOptions &o) {
  if (o.labels != "inferred" && o.labels != "none" && o.labels != "list")
    badOption("labels must be \"inferred\", \"none\" or \"list\", got \"" + o.labels + "\"");
  if (o.label_mode != "int" && o.label_mode != "categorical" && o.label_mode != "binary" &&
      o.label_mode != "none")
    badOption("label_mode must be \"int\", \"categorical\", \"binary\" or \"none\", got \"" +
              o.label_mode + "\"");
  if (!o.class_names.empty() && o.labels != "inferred")
    badOption("class_names can only be given with labels \"inferred\"");
  if (o.batch_size < 0)
    badOption("batch_size must be positive (0: one batch), got " + std::to_string(o.batch_size));
  if (o.max_length && *o.max_length < 0)
    badOption("max_length must be >= 0");
  if (o.validation_split != 0 && !(o.validation_split > 0 && o.validation_split < 1))
    badOption("validation_split must be between 0 and 1");
  if ((o.validation_split != 0) != !o.subset.empty())
    badOption("subset and validation_split go together: set both or neither");
  if (!o.subset.empty() && o.subset != "training" && o.subset != "validation" &&
      o.subset != "both")
    badOption("subset must be \"training\", \"validation\" or \"both\", got \"" + o.subset +
              "\"");
  if (o.validation_split != 0 && o.shuffle && !o.seed)
    badOption("with validation_split and shuffle, a seed is needed so that the training and "
              "validation subsets do not overlap");
}

TextDataset makeDataset(const Indexed &all, size_t begin, size_t end, const TextDatasetOptions &o,
                        const std::vector<std::string> &classNames, bool hasLabels) {
  TextDataset d;
  d.batch_size = o.batch_size;
  d.class_names = classNames;
  int64_t n = static_cast<int64_t>(end - begin);
  int64_t classes = static_cast<int64_t>(classNames.size());
  if (hasLabels) {
    if (o.label_mode == "int")
      d.labels = Array({n});
    else if (o.label_mode == "categorical")
      d.labels = Array({n, classes});
    else
      d.labels = Array({n, 1});
  }
  for (size_t i = begin; i < end; ++i) {
    d.file_paths.push_back(all.files[i]);
    d.texts.push_back(readFile(all.files[i], o.max_length));
    if (!hasLabels)
      continue;
    int64_t l = all.labels[i], r = static_cast<int64_t>(i - begin);
    if (o.label_mode == "categorical") {
      if (l < 0 || l >= classes)
        badOption("label " + std::to_string(l) + " of " + all.files[i] + " is not in [0, " +
                  std::to_string(classes) + ") for label_mode \"categorical\"");
      d.labels.data[r * classes + l] = 1.0f;
    } else {
      d.labels.data[r] = static_cast<float>(l);
    }
  }
  return d;
}

std::pair<TextDataset, TextDataset> load(const std::string &directory,
                                         const TextDatasetOptions &o) {
  checkOptions(o);
  Indexed all = indexDirectory(directory, o);
  bool hasLabels = o.labels != "none" && o.label_mode != "none";
  if (hasLabels && o.label_mode == "binary" && all.classNames.size() != 2)
    badOption("label_mode \"binary\" needs exactly 2 classes, found " +
              std::to_string(all.classNames.size()));
  if (o.verbose) {
    if (o.labels == "none")
      std::printf("Found %zu files.\n", all.files.size());
    else
      std::printf("Found %zu files belonging to %zu classes.\n", all.files.size(),
                  all.classNames.size());
  }
  if (o.shuffle) {
    // Keras shuffles the paths and the labels with two RandomState(seed): the same order.
    uint32_t seed = o.seed ? *o.seed : static_cast<uint32_t>(std::random_device{}() % 1000000);
    std::vector<int64_t> order = numpy_shuffle_order(static_cast<int64_t>(all.files.size()), seed);
    Indexed shuffled = all;
    for (size_t i = 0; i < order.size(); ++i) {
      shuffled.files[i] = all.files[order[i]];
      if (!all.labels.empty())
        shuffled.labels[i] = all.labels[order[i]];
    }
    all = std::move(shuffled);
  }
  std::vector<std::string> classNames = o.labels == "none" ? std::vector<std::string>{}
                                                           : all.classNames;
  size_t n = all.files.size(), val = 0;
  if (o.validation_split > 0) {
    val = static_cast<size_t>(o.validation_split * double(n));
    if (val == 0 || val == n)
      badOption("validation_split " + std::to_string(o.validation_split) + " of " +
                std::to_string(n) + " files leaves no file for " +
                (val == 0 ? "validation" : "training"));
  }
  if (o.verbose && val > 0) {
    if (o.subset == "training" || o.subset == "both")
      std::printf("Using %zu files for training.\n", n - val);
    if (o.subset == "validation" || o.subset == "both")
      std::printf("Using %zu files for validation.\n", val);
  }
  TextDataset train = o.subset == "validation"
                          ? TextDataset{}
                          : makeDataset(all, 0, n - val, o, classNames, hasLabels);
  TextDataset valid = val > 0 && o.subset != "training"
                          ? makeDataset(all, n - val, n, o, classNames, hasLabels)
                          : TextDataset{};
  return {std::move(train), std::move(valid)};
}

} // namespace

std::vector<int64_t> numpy_shuffle_order(int64_t n, uint32_t seed) {
  std::vector<int64_t> order(static_cast<size_t>(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i)
    order[i] = i;
  std::mt19937 rng(seed);
  for (int64_t i = n - 1; i >= 1; --i) {
    uint32_t j = randomInterval(rng, static_cast<uint32_t>(i));
    std::swap(order[i], order[j]);
  }
  return order;
}

int64_t TextDataset::num_batches() const {
  if (texts.empty())
    return 0;
  if (batch_size <= 0)
    return 1;
  return (size() + batch_size - 1) / batch_size;
}

std::pair<std::vector<std::string>, Array> TextDataset::batch(int64_t i) const {
  if (i < 0 || i >= num_batches())
    throw std::out_of_range("TextDataset: batch " + std::to_string(i) + " of " +
                            std::to_string(num_batches()));
  int64_t b = batch_size <= 0 ? 0 : i * batch_size;
  int64_t e = batch_size <= 0 ? size() : std::min(size(), b + batch_size);
  std::vector<std::string> t(texts.begin() + b, texts.begin() + e);
  if (labels.shape.empty())
    return {std::move(t), Array()};
  return {std::move(t), labels.rows(b, e)};
}

TextDataset text_dataset_from_directory(const std::string &directory, TextDatasetOptions o) {
  if (o.subset == "both")
    badOption("subset \"both\" returns two datasets: call text_dataset_from_directory_both");
  auto [train, valid] = load(directory, o);
  return o.subset == "validation" ? std::move(valid) : std::move(train);
}

std::pair<TextDataset, TextDataset> text_dataset_from_directory_both(const std::string &directory,
                                                                     TextDatasetOptions o) {
  o.subset = "both";
  return load(directory, o);
}

//===----------------------------------------------------------------------===//
// loadtxt
//===----------------------------------------------------------------------===//

namespace {

std::string trim(const std::string &s) {
  size_t b = s.find_first_not_of(" \t\r\n\f\v"), e = s.find_last_not_of(" \t\r\n\f\v");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::vector<std::string> splitFields(const std::string &line, std::optional<char> delimiter) {
  std::vector<std::string> out;
  if (!delimiter) {
    std::istringstream is(line);
    std::string f;
    while (is >> f)
      out.push_back(f);
    return out;
  }
  size_t start = 0;
  while (true) {
    size_t at = line.find(*delimiter, start);
    out.push_back(trim(line.substr(start, at == std::string::npos ? std::string::npos : at - start)));
    if (at == std::string::npos)
      break;
    start = at + 1;
  }
  return out;
}

/// A field as Python's float() reads it: decimal or exponent forms, inf, nan, surrounding
/// blanks allowed.
bool parseNumber(const std::string &field, double &out) {
  std::string s = trim(field);
  if (s.empty())
    return false;
  std::string l = lowered(s);
  size_t sign = (l[0] == '+' || l[0] == '-') ? 1 : 0;
  std::string body = l.substr(sign);
  if (body == "inf" || body == "infinity" || body == "nan") {
    out = body == "nan" ? NAN : INFINITY;
    if (l[0] == '-')
      out = -out;
    return true;
  }
  // Python's float() takes no hex floats; strtod would.
  if (body.find('x') != std::string::npos)
    return false;
  errno = 0;
  char *end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

} // namespace

Array loadtxt(const std::string &path, LoadtxtOptions o) {
  if (o.ndmin < 0 || o.ndmin > 2)
    throw std::invalid_argument("kiln::utils::loadtxt: ndmin must be 0, 1 or 2, got " +
                                std::to_string(o.ndmin));
  if (o.skiprows < 0 || (o.max_rows && *o.max_rows < 0))
    throw std::invalid_argument("kiln::utils::loadtxt: skiprows and max_rows must be >= 0");
  std::ifstream is(path, std::ios::binary);
  if (!is)
    fileError(path, "cannot be read");
  std::vector<float> values;
  int64_t rows = 0, cols = -1, lineNo = 0, firstRowLine = 0;
  std::string line;
  while (std::getline(is, line)) {
    ++lineNo;
    if (lineNo <= o.skiprows)
      continue;
    if (o.max_rows && rows >= *o.max_rows)
      break;
    if (!o.comments.empty())
      if (size_t at = line.find(o.comments); at != std::string::npos)
        line.resize(at);
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (trim(line).empty())
      continue;
    std::vector<std::string> fields = splitFields(line, o.delimiter);
    int64_t n = static_cast<int64_t>(fields.size());
    std::vector<int64_t> use;
    if (o.usecols.empty()) {
      for (int64_t c = 0; c < n; ++c)
        use.push_back(c);
    } else {
      for (int64_t c : o.usecols) {
        int64_t k = c < 0 ? n + c : c;
        if (k < 0 || k >= n)
          fileError(path + ":" + std::to_string(lineNo),
                    "usecols asks for column " + std::to_string(c) + " of a row with " +
                        std::to_string(n) + " columns");
        use.push_back(k);
      }
    }
    int64_t width = static_cast<int64_t>(use.size());
    if (cols < 0) {
      cols = width, firstRowLine = lineNo;
    } else if (width != cols) {
      fileError(path + ":" + std::to_string(lineNo),
                "this row has " + std::to_string(width) + " columns, the first (line " +
                    std::to_string(firstRowLine) + ") has " + std::to_string(cols) +
                    "; use usecols to read a subset");
    }
    for (int64_t k : use) {
      double v;
      if (!parseNumber(fields[k], v))
        fileError(path + ":" + std::to_string(lineNo),
                  "could not convert '" + fields[k] + "' to a number (column " +
                      std::to_string(k + 1) + ")");
      values.push_back(static_cast<float>(v));
    }
    ++rows;
  }
  if (is.bad())
    fileError(path, "read error");
  if (rows == 0)
    return o.ndmin == 2 ? Array({0, 0}) : Array({0});
  // numpy's _ensure_ndmin_ndarray: squeeze past ndmin, then grow to it.
  std::vector<int64_t> shape = {rows, cols};
  if (o.ndmin < 2) {
    std::vector<int64_t> squeezed;
    for (int64_t d : shape)
      if (d != 1)
        squeezed.push_back(d);
    if (static_cast<int>(squeezed.size()) < o.ndmin)
      squeezed = {1};
    shape = squeezed;
  }
  Array out(shape);
  out.data = std::move(values);
  return out;
}

} // namespace kiln::utils
