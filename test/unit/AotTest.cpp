//===- AotTest.cpp - the ahead-of-time helpers: weights blob, fingerprint, target machines -===//
#include "codegen/Aot.h"

#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/Target/TargetMachine.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace mlir::kiln;

namespace {

uint64_t le(const std::string &s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i)
    v |= uint64_t(static_cast<unsigned char>(s[at + i])) << (8 * i);
  return v;
}

TEST(AotWeights, BlobLayout) {
  std::vector<float> a = {1.5f, -2.0f, 3.25f}, b(20);
  for (size_t i = 0; i < b.size(); ++i)
    b[i] = float(i) * 0.5f;
  AotModel m;
  m.prefix = "m";
  m.weights = {{"w0", {3}, a.data()}, {"w1", {4, 5}, b.data()}};
  int64_t total = 0;
  std::vector<int64_t> offsets = weightOffsets(m, total);
  // 64-byte header; 12 bytes padded to 64; then 80 bytes padded to 128.
  ASSERT_EQ(offsets, (std::vector<int64_t>{64, 128}));
  EXPECT_EQ(total, 256);
  std::string blob = weightsBlob(m);
  ASSERT_EQ(int64_t(blob.size()), total);
  EXPECT_EQ(std::memcmp(blob.data(), "KILNWGT", 8), 0);
  EXPECT_EQ(le(blob, 8, 4), kWeightsFormatVersion);
  EXPECT_EQ(le(blob, 12, 4), uint64_t(kAotAbiVersion));
  EXPECT_EQ(le(blob, 16, 8), weightsFingerprint(m));
  EXPECT_EQ(le(blob, 24, 8), 2u);
  EXPECT_EQ(le(blob, 32, 8), uint64_t(total - 64));
  float got[20];
  std::memcpy(got, blob.data() + 64, 12);
  EXPECT_EQ(std::memcmp(got, a.data(), 12), 0);
  EXPECT_EQ(blob.substr(76, 64 - 12), std::string(52, '\0')); // padding is zero
  std::memcpy(got, blob.data() + 128, 80);
  EXPECT_EQ(std::memcmp(got, b.data(), 80), 0);
}

TEST(AotWeights, FingerprintCoversShapesNotValues) {
  std::vector<float> x(6, 1.0f), y(6, 2.0f);
  AotModel m1, m2, m3, m4;
  m1.weights = {{"w", {2, 3}, x.data()}};
  m2.weights = {{"w", {2, 3}, y.data()}};
  m3.weights = {{"w", {3, 2}, x.data()}};
  m4.weights = {{"w", {6}, x.data()}};
  EXPECT_EQ(weightsFingerprint(m1), weightsFingerprint(m2));
  EXPECT_NE(weightsFingerprint(m1), weightsFingerprint(m3));
  EXPECT_NE(weightsFingerprint(m1), weightsFingerprint(m4));
  AotModel two = m1;
  two.weights.push_back({"b", {0}, x.data()});
  EXPECT_NE(weightsFingerprint(m1), weightsFingerprint(two));
}

TEST(AotTarget, X86Levels) {
  PipelineOptions o;
  std::string err;
  o.targetCpu = "x86-64-v4";
  auto v4 = createTargetMachine(o, err);
  ASSERT_TRUE(v4) << err;
  EXPECT_TRUE(v4->getMCSubtargetInfo()->checkFeatures("+avx512f"));
  o.targetCpu = "x86-64-v3";
  auto v3 = createTargetMachine(o, err);
  ASSERT_TRUE(v3) << err;
  EXPECT_TRUE(v3->getMCSubtargetInfo()->checkFeatures("+avx2"));
  EXPECT_FALSE(v3->getMCSubtargetInfo()->checkFeatures("+avx512f"));
  o.targetCpu = "x86-64";
  auto v1 = createTargetMachine(o, err);
  ASSERT_TRUE(v1) << err;
  EXPECT_FALSE(v1->getMCSubtargetInfo()->checkFeatures("+avx"));
}

TEST(AotTarget, CrossAndErrors) {
  PipelineOptions o;
  std::string err;
  o.targetTriple = "aarch64-linux-gnu";
  o.targetCpu = "neoverse-n1";
  auto arm = createTargetMachine(o, err);
  ASSERT_TRUE(arm) << err;
  EXPECT_EQ(arm->getTargetTriple().getArchName(), "aarch64");

  o.targetCpu = "native";
  EXPECT_FALSE(createTargetMachine(o, err));
  EXPECT_NE(err.find("--target-cpu=native describes this machine"), std::string::npos) << err;

  o.targetTriple.clear();
  o.targetCpu = "pentium9";
  EXPECT_FALSE(createTargetMachine(o, err));
  EXPECT_EQ(err, "unknown CPU 'pentium9' for x86_64");

  o.targetTriple = "bogus-none-nowhere";
  o.targetCpu = "generic";
  EXPECT_FALSE(createTargetMachine(o, err));
  EXPECT_EQ(err, "unknown target triple 'bogus-none-nowhere'");
}

} // namespace
