//===- SafeTensorsIndexFuzz.cpp - a sharded checkpoint's index on any text ===//
//
// The input is model.safetensors.index.json in a folder that also holds two
// valid shards (model-00001-of-00002.safetensors with tensors a and b,
// model-00002-of-00002.safetensors with c). Opening the folder must accept
// the index or refuse it with an error, never crash or read outside the
// folder; every tensor of an accepted index is read.
//
//===----------------------------------------------------------------------===//

#include "support/SafeTensors.h"
#include "test/fuzz/FuzzInput.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

/// A valid shard: `tensors` F32 [2] tensors named by one letter each.
std::string shard(const std::string &letters) {
  std::string header = "{";
  for (size_t i = 0; i < letters.size(); ++i)
    header += std::string(i ? "," : "") + "\"" + letters[i] +
              "\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[" +
              std::to_string(8 * i) + "," + std::to_string(8 * i + 8) + "]}";
  header += "}";
  uint64_t length = header.size();
  std::string bytes(8, '\0');
  std::memcpy(bytes.data(), &length, 8);
  return bytes + header + std::string(8 * letters.size(), '\0');
}

/// The folder, with its shards written once.
const std::string &folder() {
  static const std::string dir = [] {
    std::string first = shard("ab"), second = shard("c");
    std::string path =
        kiln::fuzz::asFile(reinterpret_cast<const uint8_t *>(first.data()),
                           first.size(), "model-00001-of-00002.safetensors");
    kiln::fuzz::asFile(reinterpret_cast<const uint8_t *>(second.data()),
                       second.size(), "model-00002-of-00002.safetensors");
    return path.substr(0, path.rfind('/'));
  }();
  return dir;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string &dir = folder();
  kiln::fuzz::asFile(data, size, "model.safetensors.index.json");
  auto store = kiln::WeightStore::openFolder(dir);
  if (!store.ok())
    return 0;
  for (const std::string &name : (*store)->names()) {
    auto view = (*store)->get(name);
    if (!view.ok() || (*view)->file.rfind(dir + "/", 0) != 0)
      __builtin_trap(); // a listed name that cannot be read, or read elsewhere
    (void)(*view)->toFloat();
  }
  return 0;
}
