//===- SafeTensorsTest.cpp - the safetensors reader on broken files -------===//
//
// Every structural rule of the format has a file that breaks it, and the
// reader must refuse it with a message naming the file and the problem.
//
//===----------------------------------------------------------------------===//

#include "support/SafeTensors.h"
#include "support/Files.h"
#include "support/Npy.h"
#include "support/Tokenizer.h"

#include <gtest/gtest.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

namespace fs = std::filesystem;

class SafeTensorsTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kiln-safetensors-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  /// Writes header length + `header` + `dataBytes` bytes of data.
  std::string write(const std::string &name, const std::string &header,
                    size_t dataBytes, uint64_t declaredLength = 0) {
    std::string path = (dir_ / name).string();
    std::ofstream out(path, std::ios::binary);
    uint64_t length = declaredLength ? declaredLength : header.size();
    char bytes[8];
    std::memcpy(bytes, &length, 8);
    out.write(bytes, 8);
    out << header;
    std::string data(dataBytes, '\0');
    for (size_t i = 0; i < dataBytes; ++i)
      data[i] = static_cast<char>(i);
    out << data;
    return path;
  }

  std::string errorOf(const std::string &path) {
    auto file = kiln::SafeTensorsFile::open(path);
    if (file.ok())
      return "";
    return std::string(file.status().message());
  }

  fs::path dir_;
};

TEST_F(SafeTensorsTest, ReadsAValidFile) {
  std::string path =
      write("ok.safetensors",
            R"({"__metadata__":{"format":"pt"},)"
            R"("b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},)"
            R"("a":{"dtype":"BF16","shape":[2,4],"data_offsets":[0,16]}})",
            24);
  auto file = kiln::SafeTensorsFile::open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ((*file)->tensors().size(), 2u);
  const kiln::TensorView &a = (*file)->tensors().at("a");
  EXPECT_EQ(a.dtype, kiln::DType::BF16);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(a.bytes, 16u);
  EXPECT_EQ((*file)->metadata().at("format"), "pt");
}

TEST_F(SafeTensorsTest, ConvertsHalfAndBFloat16) {
  // 1.0 in f16 is 0x3c00, -2.5 in bf16 is 0xc020.
  std::string path =
      write("convert.safetensors",
            R"({"h":{"dtype":"F16","shape":[1],"data_offsets":[0,2]},)"
            R"("b":{"dtype":"BF16","shape":[1],"data_offsets":[2,4]}})",
            0);
  {
    std::ofstream out(path, std::ios::binary | std::ios::app);
    const unsigned char data[] = {0x00, 0x3c, 0x20, 0xc0};
    out.write(reinterpret_cast<const char *>(data), 4);
  }
  auto file = kiln::SafeTensorsFile::open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->tensors().at("h").toFloat()[0], 1.0f);
  EXPECT_EQ((*file)->tensors().at("b").toFloat()[0], -2.5f);
}

TEST_F(SafeTensorsTest, RefusesShortFile) {
  std::string path = (dir_ / "short.safetensors").string();
  std::ofstream(path) << "abc";
  EXPECT_NE(errorOf(path).find("file is 3 bytes, shorter than the 8-byte "
                               "header length"),
            std::string::npos);
}

TEST_F(SafeTensorsTest, RefusesHeaderPastEndOfFile) {
  std::string path = write("long.safetensors", "{}", 0, 1000);
  EXPECT_NE(errorOf(path).find("header length 1000 runs past the end of the "
                               "file (10 bytes)"),
            std::string::npos)
      << errorOf(path);
}

TEST_F(SafeTensorsTest, RefusesMalformedJson) {
  std::string path = write("json.safetensors", R"({"a": {)", 0);
  EXPECT_NE(errorOf(path).find("header is not a JSON object"),
            std::string::npos);
}

TEST_F(SafeTensorsTest, RefusesUnknownDtype) {
  std::string path =
      write("dtype.safetensors",
            R"({"a":{"dtype":"F12","shape":[1],"data_offsets":[0,4]}})", 4);
  EXPECT_NE(errorOf(path).find("tensor 'a': unknown dtype 'F12'"),
            std::string::npos)
      << errorOf(path);
}

TEST_F(SafeTensorsTest, RefusesSizeThatDoesNotMatchShape) {
  std::string path =
      write("size.safetensors",
            R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8);
  EXPECT_NE(errorOf(path).find("tensor 'a': holds 8 bytes but shape and "
                               "dtype F32 need 12"),
            std::string::npos)
      << errorOf(path);
}

TEST_F(SafeTensorsTest, RefusesOutOfRangeOffsets) {
  std::string path =
      write("range.safetensors",
            R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})", 16);
  EXPECT_NE(errorOf(path).find("tensor 'a': data_offsets [8, 24] run past "
                               "the data section of 16 bytes"),
            std::string::npos)
      << errorOf(path);
}

TEST_F(SafeTensorsTest, RefusesReversedOffsets) {
  std::string path =
      write("reversed.safetensors",
            R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 8);
  EXPECT_NE(errorOf(path).find("data_offsets [8, 4] are reversed"),
            std::string::npos)
      << errorOf(path);
}

TEST_F(SafeTensorsTest, RefusesOverlappingTensors) {
  std::string path =
      write("overlap.safetensors",
            R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
            R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
            12);
  EXPECT_NE(errorOf(path).find("tensors 'a' and 'b' overlap"),
            std::string::npos)
      << errorOf(path);
}

TEST_F(SafeTensorsTest, RefusesNegativeDims) {
  std::string path =
      write("negative.safetensors",
            R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4);
  EXPECT_NE(errorOf(path).find("shape holds a negative or non-integer dim"),
            std::string::npos)
      << errorOf(path);
}

TEST_F(SafeTensorsTest, ShardedIndexChecksEveryTensor) {
  write("model-00001-of-00002.safetensors",
        R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4);
  write("model-00002-of-00002.safetensors",
        R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4);
  std::ofstream((dir_ / "model.safetensors.index.json").string())
      << R"({"weight_map": {"a": "model-00001-of-00002.safetensors",
                            "b": "model-00002-of-00002.safetensors"}})";
  auto store = kiln::WeightStore::openFolder(dir_.string());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE((*store)->contains("a"));
  EXPECT_TRUE((*store)->contains("b"));
  auto missing = (*store)->get("c");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("missing tensor 'c' in"),
            std::string::npos);

  // The index names a tensor its shard does not hold.
  std::ofstream((dir_ / "model.safetensors.index.json").string())
      << R"({"weight_map": {"b": "model-00001-of-00002.safetensors"}})";
  auto wrong = kiln::WeightStore::openFolder(dir_.string());
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("tensor 'b' is not in its shard"),
            std::string::npos)
      << wrong.status();

  // A shard name that leaves the folder.
  std::ofstream((dir_ / "model.safetensors.index.json").string())
      << R"({"weight_map": {"b": "../elsewhere.safetensors"}})";
  auto escaping = kiln::WeightStore::openFolder(dir_.string());
  ASSERT_FALSE(escaping.ok());
  EXPECT_NE(escaping.status().message().find("leaves the folder"),
            std::string::npos);
}

} // namespace

namespace {

/// Every input a fuzzer once crashed a reader with (test/fuzz/regressions),
/// read again: each must now be a result or an error. The sanitizer build
/// (make check-asan) runs this too.
TEST(FuzzRegressionsTest, EveryKeptInputIsReadCleanly) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(KILN_FUZZ_REGRESSIONS);
  size_t inputs = 0;
  for (const char *reader : {"npy", "safetensors", "tokenizer", "spiece"}) {
    if (!fs::exists(root / reader))
      continue;
    for (const auto &entry : fs::directory_iterator(root / reader)) {
      SCOPED_TRACE(entry.path().string());
      ++inputs;
      if (std::string(reader) == "npy") {
        auto array = kiln::readNpy(entry.path().string());
        if (array.ok()) {
          size_t n = 1;
          for (int64_t d : array->shape)
            n *= static_cast<size_t>(d);
          EXPECT_EQ(n, array->values.size());
        }
      } else if (std::string(reader) == "tokenizer") {
        // A tokenizer.json, then after a NUL byte a text: what it encodes
        // must decode.
        auto bytes = kiln::readFile(entry.path().string());
        ASSERT_TRUE(bytes.ok());
        size_t nul = bytes->find('\0');
        auto tokenizer =
            kiln::Tokenizer::parse(bytes->substr(0, nul), "tokenizer.json");
        if (tokenizer.ok() && nul != std::string::npos) {
          if (auto ids = (*tokenizer)->encode(bytes->substr(nul + 1));
              ids.ok()) {
            EXPECT_TRUE((*tokenizer)->decode(*ids, false).ok());
          }
        }
      } else if (std::string(reader) == "spiece") {
        // A spiece.model: an error, or a tokenizer.json that parses.
        auto bytes = kiln::readFile(entry.path().string());
        ASSERT_TRUE(bytes.ok());
        auto json = kiln::tokenizerJsonFromSentencePiece(
            *bytes, R"({"tokenizer_class": "T5Tokenizer"})", "spiece.model");
        if (json.ok()) {
          EXPECT_TRUE(kiln::Tokenizer::parse(*json, "spiece.model").ok());
        }
      } else {
        (void)kiln::WeightStore::openFile(entry.path().string());
      }
    }
  }
  EXPECT_GT(inputs, 0u);
}

} // namespace

namespace {

/// A file truncated after it was mapped: reading past its new end is one
/// error naming the file and exit 1 (support/MapGuard.h), not a crash.
TEST_F(SafeTensorsTest, FileTruncatedWhileMappedIsAnError) {
  constexpr size_t kBytes = 1 << 16; // 16 pages of data
  std::string path =
      write("shrinks.safetensors",
            R"({"w":{"dtype":"U8","shape":[65536],"data_offsets":[0,65536]}})",
            kBytes);
  auto file = kiln::SafeTensorsFile::open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  const kiln::TensorView &w = (*file)->tensors().at("w");
  ASSERT_EQ(::truncate(path.c_str(), 4096), 0);
  EXPECT_EXIT(
      {
        volatile uint8_t sum = 0;
        for (size_t i = 0; i < w.bytes; ++i)
          sum = sum + w.data[i];
        std::exit(sum == 255 ? 2 : 3); // not reached
      },
      ::testing::ExitedWithCode(1),
      "error: .*shrinks.safetensors changed on disk while in use");
}

/// A write that fails leaves the previous file as it was and no partial
/// file; one that succeeds replaces it whole (kilnc's artifacts and the
/// tools' .npy outputs go through this).
TEST(AtomicWriteTest, AFailedWriteLeavesThePreviousFile) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(::testing::TempDir()) /
                 ("kiln-atomic-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string path = (dir / "out.npy").string();
  ASSERT_TRUE(kiln::writeNpy(path, {2}, {1.0f, 2.0f}).ok());
  auto before = kiln::readFile(path);
  ASSERT_TRUE(before.ok());

  absl::Status failed = kiln::writeFileAtomically(path, [](int fd) {
    EXPECT_TRUE(kiln::writeAll(fd, "half", 4).ok());
    return absl::ResourceExhaustedError("disk full");
  });
  EXPECT_FALSE(failed.ok());
  EXPECT_NE(
      std::string(failed.message()).find(path + ": cannot write: disk full"),
      std::string::npos)
      << failed;
  EXPECT_EQ(*kiln::readFile(path), *before);
  EXPECT_FALSE(fs::exists(path + ".partial"));

  ASSERT_TRUE(kiln::writeNpy(path, {3}, {4.0f, 5.0f, 6.0f}).ok());
  auto after = kiln::readNpy(path);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->values, (std::vector<float>{4.0f, 5.0f, 6.0f}));
  EXPECT_FALSE(fs::exists(path + ".partial"));

  // A writer killed mid-write leaves the previous file and nothing else.
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    (void)kiln::writeFileAtomically(path, [](int fd) {
      (void)kiln::writeAll(fd, "half", 4);
      ::raise(SIGKILL);
      return absl::OkStatus();
    });
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  std::vector<std::string> names;
  for (const auto &entry : fs::directory_iterator(dir))
    names.push_back(entry.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"out.npy"});
  EXPECT_EQ(kiln::readNpy(path)->values,
            (std::vector<float>{4.0f, 5.0f, 6.0f}));

  // A folder that does not exist: one error naming the file.
  auto missing = kiln::writeNpy((dir / "no" / "x.npy").string(), {1}, {0});
  EXPECT_FALSE(missing.ok());
  fs::remove_all(dir);
}

} // namespace
