//===- TextFilesTest.cpp - text_dataset_from_directory and loadtxt on small files -===//
//
// Directories and files made by the test. Expected orders follow Keras' index_directory:
// classes are the sorted subdirectories, files are sorted by (folder, name) as
// sorted(os.walk(...)) gives them, and the shuffle is numpy's RandomState(seed).shuffle; the
// orders below were printed by numpy 1.24 (np.random.RandomState(s).shuffle(list)).
//
//===----------------------------------------------------------------------===//
#include "kiln/TextFiles.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace kiln;
using namespace kiln::utils;
namespace fs = std::filesystem;

namespace {

fs::path scratch(const std::string &name) {
  fs::path p = fs::temp_directory_path() / ("kiln-textfiles-" + std::to_string(getpid())) / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

void write(const fs::path &p, const std::string &text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

/// neg/{a,b}.txt, pos/{x,y}.txt, pos/more/c.TXT, and files Keras skips: a .md file, a hidden
/// folder, a .txt at the top (not in a class folder).
fs::path reviews() {
  fs::path d = scratch("reviews");
  write(d / "neg/a.txt", "bad movie");
  write(d / "neg/b.txt", "awful\nreally");
  write(d / "pos/x.txt", "great film");
  write(d / "pos/y.txt", "fine");
  write(d / "pos/more/c.TXT", "loved it");
  write(d / "pos/readme.md", "not a text file for Keras");
  write(d / ".hidden/h.txt", "hidden class");
  write(d / "top.txt", "no class");
  return d;
}

std::vector<std::string> names(const TextDataset &d, const fs::path &root) {
  std::vector<std::string> out;
  for (const std::string &p : d.file_paths)
    out.push_back(fs::relative(p, root).string());
  return out;
}

TEST(NumpyShuffle, MatchesRandomState) {
  EXPECT_EQ(numpy_shuffle_order(10, 42), (std::vector<int64_t>{8, 1, 5, 0, 7, 2, 9, 4, 3, 6}));
  EXPECT_EQ(numpy_shuffle_order(6, 1337), (std::vector<int64_t>{3, 2, 1, 0, 4, 5}));
  EXPECT_EQ(numpy_shuffle_order(1, 5), (std::vector<int64_t>{0}));
}

TEST(TextDataset, InferredLabelsInKerasOrder) {
  fs::path d = reviews();
  TextDataset ds = text_dataset_from_directory(d, {.batch_size = 2, .shuffle = false, .verbose = false});
  EXPECT_EQ(ds.class_names, (std::vector<std::string>{"neg", "pos"}));
  EXPECT_EQ(names(ds, d), (std::vector<std::string>{"neg/a.txt", "neg/b.txt", "pos/x.txt",
                                                    "pos/y.txt", "pos/more/c.TXT"}));
  EXPECT_EQ(ds.texts[1], "awful\nreally");
  EXPECT_EQ(ds.labels.shape, (std::vector<int64_t>{5}));
  EXPECT_EQ(ds.labels.data, (std::vector<float>{0, 0, 1, 1, 1}));
  ASSERT_EQ(ds.num_batches(), 3);
  auto [texts, labels] = ds.batch(2);
  EXPECT_EQ(texts, (std::vector<std::string>{"loved it"}));
  EXPECT_EQ(labels.shape, (std::vector<int64_t>{1}));
}

TEST(TextDataset, LabelModesClassNamesAndMaxLength) {
  fs::path d = reviews();
  TextDataset cat = text_dataset_from_directory(
      d, {.label_mode = "categorical", .max_length = 4, .shuffle = false, .verbose = false});
  EXPECT_EQ(cat.labels.shape, (std::vector<int64_t>{5, 2}));
  EXPECT_EQ(cat.labels.data, (std::vector<float>{1, 0, 1, 0, 0, 1, 0, 1, 0, 1}));
  EXPECT_EQ(cat.texts[0], "bad ");
  EXPECT_EQ(cat.num_batches(), 1);

  TextDataset bin = text_dataset_from_directory(
      d, {.label_mode = "binary", .class_names = {"pos", "neg"}, .shuffle = false, .verbose = false});
  // class_names keep the given order: pos is 0, and its files come first.
  EXPECT_EQ(names(bin, d), (std::vector<std::string>{"pos/x.txt", "pos/y.txt", "pos/more/c.TXT",
                                                     "neg/a.txt", "neg/b.txt"}));
  EXPECT_EQ(bin.labels.shape, (std::vector<int64_t>{5, 1}));
  EXPECT_EQ(bin.labels.data, (std::vector<float>{0, 0, 0, 1, 1}));

  // No labels: every .txt file below the directory (the hidden folder's too, as os.walk).
  TextDataset none = text_dataset_from_directory(d, {.labels = "none", .shuffle = false, .verbose = false});
  EXPECT_EQ(none.size(), 7);
  EXPECT_TRUE(none.labels.shape.empty());
  TextDataset listed = text_dataset_from_directory(
      d, {.labels = "list", .label_list = {3, 1, 4, 1, 5, 9, 2}, .shuffle = false, .verbose = false});
  EXPECT_EQ(listed.class_names, (std::vector<std::string>{"1", "2", "3", "4", "5", "9"}));
  EXPECT_EQ(listed.labels.data, (std::vector<float>{3, 1, 4, 1, 5, 9, 2}));
}

TEST(TextDataset, SeededShuffleAndValidationSplit) {
  fs::path d = reviews();
  // numpy: RandomState(1337).shuffle([neg/a, neg/b, pos/x, pos/y, pos/more/c])
  //   = [pos/y, pos/x, neg/b, neg/a, pos/more/c]; validation_split 0.4: int(0.4 * 5) = 2 last.
  auto [train, valid] = text_dataset_from_directory_both(
      d, {.seed = 1337, .validation_split = 0.4, .verbose = false});
  EXPECT_EQ(names(train, d), (std::vector<std::string>{"pos/y.txt", "pos/x.txt", "neg/b.txt"}));
  EXPECT_EQ(train.labels.data, (std::vector<float>{1, 1, 0}));
  EXPECT_EQ(names(valid, d), (std::vector<std::string>{"neg/a.txt", "pos/more/c.TXT"}));
  EXPECT_EQ(valid.labels.data, (std::vector<float>{0, 1}));
  TextDataset v = text_dataset_from_directory(
      d, {.seed = 1337, .validation_split = 0.4, .subset = "validation", .verbose = false});
  EXPECT_EQ(v.file_paths, valid.file_paths);
}

TEST(TextDataset, BadInput) {
  fs::path d = reviews();
  EXPECT_THROW(text_dataset_from_directory(d, {.label_mode = "sparse"}), std::invalid_argument);
  EXPECT_THROW(text_dataset_from_directory(d, {.validation_split = 0.2, .subset = "training",
                                               .verbose = false}),
               std::invalid_argument); // shuffle without a seed
  EXPECT_THROW(text_dataset_from_directory(d, {.validation_split = 0.2}), std::invalid_argument);
  EXPECT_THROW(text_dataset_from_directory(d, {.class_names = {"neutral"}}), std::invalid_argument);
  EXPECT_THROW(text_dataset_from_directory(
                   d, {.labels = "list", .label_list = {1, 2}, .verbose = false}),
               std::invalid_argument);
  fs::path three = scratch("three");
  for (const char *c : {"a", "b", "c"})
    write(three / c / "t.txt", c);
  EXPECT_THROW(text_dataset_from_directory(three, {.label_mode = "binary", .verbose = false}),
               std::invalid_argument);
  try {
    text_dataset_from_directory(scratch("empty").string(), {.verbose = false});
    FAIL() << "no error";
  } catch (const std::runtime_error &e) {
    EXPECT_NE(std::string(e.what()).find("no text files found"), std::string::npos) << e.what();
  }
  EXPECT_THROW(text_dataset_from_directory((d / "missing").string()), std::runtime_error);
}

TEST(Loadtxt, CsvAndWhitespaceAsNumpy) {
  fs::path d = scratch("loadtxt");
  write(d / "a.csv", "# x, y, z\n1, 2.5, -3\n\n4,5e-1 ,inf  # trailing comment\r\n7,8,nan\n");
  Array a = loadtxt((d / "a.csv").string(), {.delimiter = ','});
  EXPECT_EQ(a.shape, (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(a.data[1], 2.5f);
  EXPECT_EQ(a.data[4], 0.5f);
  EXPECT_TRUE(std::isinf(a.data[5]));
  EXPECT_TRUE(std::isnan(a.data[8]));
  Array cols = loadtxt((d / "a.csv").string(), {.delimiter = ',', .usecols = {0, -1}});
  EXPECT_EQ(cols.shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(cols.data[0], 1.0f);
  EXPECT_EQ(cols.data[1], -3.0f);
  // One column squeezes to 1-D (numpy's ndmin=0), unless ndmin=2.
  EXPECT_EQ(loadtxt((d / "a.csv").string(), {.delimiter = ',', .usecols = {1}}).shape,
            (std::vector<int64_t>{3}));
  EXPECT_EQ(loadtxt((d / "a.csv").string(), {.delimiter = ',', .usecols = {1}, .ndmin = 2}).shape,
            (std::vector<int64_t>{3, 1}));
  // skiprows counts lines (the comment line too); max_rows counts data rows.
  Array one = loadtxt((d / "a.csv").string(), {.delimiter = ',', .skiprows = 2, .max_rows = 1});
  EXPECT_EQ(one.shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(one.data[0], 4.0f);

  write(d / "w.txt", "1 2\t3\n  4   5 6\n");
  Array w = loadtxt((d / "w.txt").string());
  EXPECT_EQ(w.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(w.data, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  write(d / "s.txt", "42\n");
  EXPECT_EQ(loadtxt((d / "s.txt").string()).shape, (std::vector<int64_t>{}));
  EXPECT_EQ(loadtxt((d / "s.txt").string(), {.ndmin = 1}).shape, (std::vector<int64_t>{1}));
}

TEST(Loadtxt, BadFieldNamesFileAndLine) {
  fs::path d = scratch("badtxt");
  write(d / "bad.csv", "1,2,3\n4,x5,6\n");
  try {
    loadtxt((d / "bad.csv").string(), {.delimiter = ','});
    FAIL() << "no error";
  } catch (const std::runtime_error &e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv:2: could not convert 'x5' to a number (column 2)"),
              std::string::npos)
        << e.what();
  }
  write(d / "ragged.csv", "1,2,3\n4,5\n");
  try {
    loadtxt((d / "ragged.csv").string(), {.delimiter = ','});
    FAIL() << "no error";
  } catch (const std::runtime_error &e) {
    EXPECT_NE(std::string(e.what()).find("ragged.csv:2: this row has 2 columns, the first (line 1) has 3"),
              std::string::npos)
        << e.what();
  }
  write(d / "hex.csv", "0x10\n");
  EXPECT_THROW(loadtxt((d / "hex.csv").string()), std::runtime_error);
  EXPECT_THROW(loadtxt((d / "missing.csv").string()), std::runtime_error);
  EXPECT_THROW(loadtxt((d / "bad.csv").string(), {.ndmin = 3}), std::invalid_argument);
}

} // namespace
