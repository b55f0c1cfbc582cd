//===- SafeTensors.cpp - validated, memory-mapped safetensors files -------===//
//
// Format: 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
//  "__metadata__": {str: str}}, then the data section; offsets are relative
// to the data section. Every rule is checked before a view is handed out.
//
//===----------------------------------------------------------------------===//

#include "support/SafeTensors.h"

#include "support/MapGuard.h"

#include "support/Files.h"
#include "support/Half.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include <cerrno>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace kiln {

namespace {

using Json = nlohmann::json;

struct DTypeInfo {
  const char *name;
  DType dtype;
  size_t size;
};

constexpr DTypeInfo kDTypes[] = {
    {"BOOL", DType::Bool, 1},      {"U8", DType::U8, 1},
    {"I8", DType::I8, 1},          {"F8_E4M3", DType::F8E4M3, 1},
    {"F8_E5M2", DType::F8E5M2, 1}, {"I16", DType::I16, 2},
    {"U16", DType::U16, 2},        {"F16", DType::F16, 2},
    {"BF16", DType::BF16, 2},      {"I32", DType::I32, 4},
    {"U32", DType::U32, 4},        {"F32", DType::F32, 4},
    {"I64", DType::I64, 8},        {"U64", DType::U64, 8},
    {"F64", DType::F64, 8},
};

const DTypeInfo *findDType(const std::string &name) {
  for (const DTypeInfo &info : kDTypes)
    if (name == info.name)
      return &info;
  return nullptr;
}

const DTypeInfo &infoOf(DType dtype) {
  for (const DTypeInfo &info : kDTypes)
    if (info.dtype == dtype)
      return info;
  return kDTypes[0];
}

absl::Status invalid(const std::string &file, const std::string &what) {
  return absl::InvalidArgumentError(
      absl::StrCat(file, ": invalid safetensors file: ", what));
}

template <typename T> T load(const uint8_t *p) {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

/// Element `i` of a view as double.
double elementAsDouble(const TensorView &view, int64_t i) {
  const uint8_t *p = view.data + i * dtypeSize(view.dtype);
  switch (view.dtype) {
  case DType::Bool:
  case DType::U8:
    return *p;
  case DType::I8:
    return static_cast<int8_t>(*p);
  case DType::I16:
    return load<int16_t>(p);
  case DType::U16:
    return load<uint16_t>(p);
  case DType::F16:
    return halfToFloat(load<uint16_t>(p));
  case DType::BF16:
    return bf16ToFloat(load<uint16_t>(p));
  case DType::I32:
    return load<int32_t>(p);
  case DType::U32:
    return load<uint32_t>(p);
  case DType::F32:
    return load<float>(p);
  case DType::I64:
    return static_cast<double>(load<int64_t>(p));
  case DType::U64:
    return static_cast<double>(load<uint64_t>(p));
  case DType::F64:
    return load<double>(p);
  case DType::F8E4M3:
  case DType::F8E5M2:
    break;
  }
  return 0; // fp8 is refused before conversion (see toDouble)
}

} // namespace

size_t dtypeSize(DType dtype) { return infoOf(dtype).size; }
const char *dtypeName(DType dtype) { return infoOf(dtype).name; }

int64_t TensorView::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

std::vector<double> TensorView::toDouble() const {
  std::vector<double> out(numElements());
  for (int64_t i = 0, e = numElements(); i < e; ++i)
    out[i] = elementAsDouble(*this, i);
  return out;
}

std::vector<float> TensorView::toFloat() const {
  std::vector<float> out(numElements());
  if (dtype == DType::F32) {
    std::memcpy(out.data(), data, bytes);
    return out;
  }
  for (int64_t i = 0, e = numElements(); i < e; ++i)
    out[i] = static_cast<float>(elementAsDouble(*this, i));
  return out;
}

//===----------------------------------------------------------------------===//
// SafeTensorsFile
//===----------------------------------------------------------------------===//

absl::StatusOr<std::unique_ptr<SafeTensorsFile>>
SafeTensorsFile::open(const std::string &path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a regular file"));
  }
  std::unique_ptr<SafeTensorsFile> file(new SafeTensorsFile());
  file->path_ = path;
  file->size_ = static_cast<size_t>(st.st_size);
  if (file->size_ < 8) {
    ::close(fd);
    return invalid(path, absl::StrCat("file is ", file->size_,
                                      " bytes, shorter than the 8-byte "
                                      "header length"));
  }
  file->mapping_ = mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (file->mapping_ == MAP_FAILED) {
    file->mapping_ = nullptr;
    return absl::ResourceExhaustedError(
        absl::StrCat(path, ": cannot map its ", file->size_,
                     " bytes: ", std::strerror(errno)));
  }
  guardMapping(file->mapping_, file->size_, path);
  const uint8_t *base = static_cast<const uint8_t *>(file->mapping_);

  uint64_t headerLen = load<uint64_t>(base);
  if (headerLen > file->size_ - 8)
    return invalid(path, absl::StrCat("header length ", headerLen,
                                      " runs past the end of the file (",
                                      file->size_, " bytes)"));
  const char *headerText = reinterpret_cast<const char *>(base + 8);
  Json header = Json::parse(headerText, headerText + headerLen, nullptr,
                            /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object())
    return invalid(path, "header is not a JSON object");

  const uint8_t *dataStart = base + 8 + headerLen;
  uint64_t dataSize = file->size_ - 8 - headerLen;
  struct Range {
    uint64_t begin, end;
    const std::string *name;
  };
  std::vector<Range> ranges;

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string &name = it.key();
    const Json &entry = it.value();
    if (name == "__metadata__") {
      if (!entry.is_object())
        return invalid(path, "__metadata__ is not an object");
      for (auto m = entry.begin(); m != entry.end(); ++m) {
        if (!m.value().is_string())
          return invalid(path, absl::StrCat("__metadata__ value of '", m.key(),
                                            "' is not a string"));
        file->metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    std::string where = absl::StrCat("tensor '", name, "': ");
    if (!entry.is_object())
      return invalid(path, where + "entry is not an object");
    auto dtypeIt = entry.find("dtype");
    auto shapeIt = entry.find("shape");
    auto offsetsIt = entry.find("data_offsets");
    if (dtypeIt == entry.end() || !dtypeIt->is_string())
      return invalid(path, where + "missing or non-string dtype");
    const DTypeInfo *info = findDType(dtypeIt->get<std::string>());
    if (!info)
      return invalid(path, where + "unknown dtype '" +
                               dtypeIt->get<std::string>() + "'");
    if (shapeIt == entry.end() || !shapeIt->is_array())
      return invalid(path, where + "missing or non-array shape");
    TensorView view;
    view.name = name;
    view.dtype = info->dtype;
    view.file = path;
    uint64_t elements = 1;
    for (const Json &d : *shapeIt) {
      if (!d.is_number_unsigned())
        return invalid(path, where + "shape holds a negative or non-integer "
                                     "dim");
      uint64_t dim = d.get<uint64_t>();
      if (dim != 0 && elements > (uint64_t(1) << 62) / dim)
        return invalid(path, where + "shape is too large");
      elements *= dim;
      view.shape.push_back(static_cast<int64_t>(dim));
    }
    if (offsetsIt == entry.end() || !offsetsIt->is_array() ||
        offsetsIt->size() != 2 || !(*offsetsIt)[0].is_number_unsigned() ||
        !(*offsetsIt)[1].is_number_unsigned())
      return invalid(path, where + "data_offsets must be [begin, end] of "
                                   "non-negative integers");
    uint64_t begin = (*offsetsIt)[0].get<uint64_t>();
    uint64_t end = (*offsetsIt)[1].get<uint64_t>();
    if (begin > end)
      return invalid(path, where + absl::StrCat("data_offsets [", begin, ", ",
                                                end, "] are reversed"));
    if (end > dataSize)
      return invalid(path,
                     where + absl::StrCat("data_offsets [", begin, ", ", end,
                                          "] run past the data section "
                                          "of ",
                                          dataSize, " bytes"));
    uint64_t expected = elements * info->size;
    if (end - begin != expected)
      return invalid(path,
                     where + absl::StrCat("holds ", end - begin,
                                          " bytes but shape and dtype ",
                                          info->name, " need ", expected));
    view.data = dataStart + begin;
    view.bytes = end - begin;
    auto [pos, inserted] = file->tensors_.emplace(name, std::move(view));
    ranges.push_back({begin, end, &pos->first});
  }

  std::sort(ranges.begin(), ranges.end(),
            [](const Range &a, const Range &b) { return a.begin < b.begin; });
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].begin < ranges[i - 1].end)
      return invalid(path,
                     absl::StrCat("tensors '", *ranges[i - 1].name, "' and '",
                                  *ranges[i].name, "' overlap"));
  return file;
}

SafeTensorsFile::~SafeTensorsFile() {
  if (mapping_)
    unguardMapping(mapping_);
  munmap(mapping_, size_);
}

//===----------------------------------------------------------------------===//
// WeightStore
//===----------------------------------------------------------------------===//

absl::StatusOr<std::unique_ptr<WeightStore>>
WeightStore::openFile(const std::string &path) {
  auto file = SafeTensorsFile::open(path);
  if (!file.ok())
    return file.status();
  auto store = std::unique_ptr<WeightStore>(new WeightStore());
  store->source_ = path;
  for (const auto &[name, view] : (*file)->tensors())
    store->index_[name] = &view;
  store->files_.push_back(std::move(*file));
  return store;
}

absl::StatusOr<std::unique_ptr<WeightStore>>
WeightStore::openFolder(const std::string &dir) {
  std::string single = dir + "/model.safetensors";
  std::string indexPath = dir + "/model.safetensors.index.json";
  if (isRegularFile(single))
    return openFile(single);
  if (!isRegularFile(indexPath))
    return absl::NotFoundError(absl::StrCat(
        dir, ": no model.safetensors or model.safetensors.index.json"));

  auto index = readJsonObject(indexPath);
  if (!index.ok())
    return index.status();
  auto mapIt = index->find("weight_map");
  if (mapIt == index->end() || !mapIt->is_object())
    return absl::InvalidArgumentError(
        absl::StrCat(indexPath, ": missing \"weight_map\" object"));

  auto store = std::unique_ptr<WeightStore>(new WeightStore());
  store->source_ = dir;
  std::map<std::string, SafeTensorsFile *> shards;
  for (auto it = mapIt->begin(); it != mapIt->end(); ++it) {
    if (!it.value().is_string())
      return absl::InvalidArgumentError(absl::StrCat(
          indexPath, ": shard of '", it.key(), "' is not a string"));
    std::string shardName = it.value().get<std::string>();
    if (shardName.find('/') != std::string::npos)
      return absl::InvalidArgumentError(absl::StrCat(
          indexPath, ": shard name '", shardName, "' leaves the folder"));
    SafeTensorsFile *&shard = shards[shardName];
    if (!shard) {
      auto file = SafeTensorsFile::open(dir + "/" + shardName);
      if (!file.ok())
        return file.status();
      shard = file->get();
      store->files_.push_back(std::move(*file));
    }
    auto found = shard->tensors().find(it.key());
    if (found == shard->tensors().end())
      return absl::NotFoundError(absl::StrCat(indexPath, ": tensor '", it.key(),
                                              "' is not in its shard ",
                                              shard->path()));
    store->index_[it.key()] = &found->second;
  }
  return store;
}

std::unique_ptr<WeightStore> WeightStore::none(const std::string &source) {
  std::unique_ptr<WeightStore> store(new WeightStore());
  store->source_ = source;
  return store;
}

bool WeightStore::contains(const std::string &name) const {
  return index_.count(name) != 0;
}

absl::StatusOr<const TensorView *>
WeightStore::get(const std::string &name) const {
  auto it = index_.find(name);
  if (it == index_.end())
    return absl::NotFoundError(
        absl::StrCat("missing tensor '", name, "' in ", source_));
  return it->second;
}

std::vector<std::string> WeightStore::names() const {
  std::vector<std::string> out;
  for (const auto &entry : index_)
    out.push_back(entry.first);
  return out;
}

} // namespace kiln
