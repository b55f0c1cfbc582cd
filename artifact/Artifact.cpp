//===- Artifact.cpp - the .kiln file: write, map, validate ----------------===//

#include "artifact/Artifact.h"

#include "support/Files.h"
#include "support/MapGuard.h"
#include "support/Status.h"

#include "absl/strings/str_cat.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace kiln {

namespace {

constexpr size_t kHeaderBytes = 64;
constexpr size_t kHeaderChecked = 48; // bytes covered by the header checksum

uint64_t alignUp(uint64_t v) {
  return (v + kBlobAlignment - 1) / kBlobAlignment * kBlobAlignment;
}

void put64(uint8_t *at, uint64_t v) { std::memcpy(at, &v, 8); }
void put32(uint8_t *at, uint32_t v) { std::memcpy(at, &v, 4); }
uint64_t get64(const uint8_t *at) {
  uint64_t v;
  std::memcpy(&v, at, 8);
  return v;
}
uint32_t get32(const uint8_t *at) {
  uint32_t v;
  std::memcpy(&v, at, 4);
  return v;
}

/// FlatBuffers' verifier checks a vector's length word but not that its
/// 8-byte elements are 8-byte aligned; a crafted manifest could misalign
/// them, so every such vector is checked here before the manifest is read.
template <typename T> bool aligned(const flatbuffers::Vector<T> *v) {
  return !v || reinterpret_cast<uintptr_t>(v->Data()) % alignof(int64_t) == 0;
}

bool alignedDims(
    const flatbuffers::Vector<flatbuffers::Offset<artifact::Dim>> *dims) {
  if (dims)
    for (const artifact::Dim *d : *dims)
      if (!aligned(d->terms()))
        return false;
  return true;
}

bool alignedBuffer(const artifact::Buffer *b) {
  return !b || alignedDims(b->dims());
}

bool alignedManifest(const artifact::Manifest &m) {
  if (m.model() && !aligned(m.model()->eos_ids()))
    return false;
  if (m.weights())
    for (const artifact::Weight *w : *m.weights())
      if (!aligned(w->shape()))
        return false;
  if (m.kernels())
    for (const artifact::Kernel *k : *m.kernels())
      if (k->buffers())
        for (const artifact::KernelBuffer *b : *k->buffers())
          if (!aligned(b->shape()))
            return false;
  if (m.entries())
    for (const artifact::Entry *e : *m.entries()) {
      if (e->arguments())
        for (const artifact::Argument *a : *e->arguments())
          if (!alignedDims(a->dims()))
            return false;
      if (e->results())
        for (const artifact::Result *r : *e->results())
          if (!alignedBuffer(r->buffer()))
            return false;
      if (e->steps())
        for (const artifact::Step *s : *e->steps()) {
          for (auto *list : {s->operands(), s->results()})
            if (list)
              for (const artifact::Buffer *b : *list)
                if (!alignedBuffer(b))
                  return false;
        }
    }
  return true;
}

} // namespace

uint64_t checksum(const void *data, size_t size) {
  return XXH3_64bits(data, size);
}

const char *dtypeName(artifact::DType dtype) {
  return artifact::EnumNameDType(dtype);
}

size_t dtypeBytes(artifact::DType dtype) {
  switch (dtype) {
  case artifact::DType::F64:
  case artifact::DType::I64:
    return 8;
  case artifact::DType::F32:
  case artifact::DType::I32:
    return 4;
  case artifact::DType::F16:
  case artifact::DType::BF16:
    return 2;
  case artifact::DType::I8:
  case artifact::DType::I1:
  case artifact::DType::I4: // two per byte; only quantized weights, which
                            // HostWeights sizes by their format
    return 1;
  }
  return 1;
}

//===----------------------------------------------------------------------===//
// Writing
//===----------------------------------------------------------------------===//

uint32_t ArtifactWriter::addBlob(artifact::BlobKind kind, const void *data,
                                 size_t size, std::shared_ptr<const void> owned,
                                 std::string isa) {
  blobs_.push_back({kind, data, size, std::move(owned), std::move(isa)});
  return blobs_.size() - 1;
}

uint32_t ArtifactWriter::addBlob(artifact::BlobKind kind,
                                 std::vector<uint8_t> bytes) {
  auto owned = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
  return addBlob(kind, owned->data(), owned->size(), owned);
}

absl::StatusOr<uint64_t> ArtifactWriter::write(const std::string &path,
                                               artifact::ManifestT manifest) {
  // Blobs first (their offsets go into the manifest), manifest last.
  uint64_t offset = kHeaderBytes;
  manifest.blobs.clear();
  for (const Pending &blob : blobs_) {
    auto entry = std::make_unique<artifact::BlobT>();
    entry->kind = blob.kind;
    entry->offset = offset;
    entry->size = blob.size;
    entry->checksum = checksum(blob.data, blob.size);
    entry->isa = blob.isa;
    manifest.blobs.push_back(std::move(entry));
    offset = alignUp(offset + blob.size);
  }
  flatbuffers::FlatBufferBuilder builder;
  builder.Finish(artifact::Manifest::Pack(builder, &manifest));
  uint64_t manifestOffset = offset;
  uint64_t fileSize = manifestOffset + builder.GetSize();

  uint8_t header[kHeaderBytes] = {};
  std::memcpy(header, kArtifactMagic, 8);
  put32(header + 8, kArtifactVersion);
  put64(header + 16, manifestOffset);
  put64(header + 24, builder.GetSize());
  put64(header + 32, checksum(builder.GetBufferPointer(), builder.GetSize()));
  put64(header + 40, fileSize);
  put64(header + 48, checksum(header, kHeaderChecked));

  static const uint8_t zeros[kBlobAlignment] = {};
  KILN_RETURN_IF_ERROR(writeFileAtomically(path, [&](int fd) {
    absl::Status status = writeAll(fd, header, kHeaderBytes);
    uint64_t at = kHeaderBytes;
    for (size_t i = 0; status.ok() && i < blobs_.size(); ++i) {
      status = writeAll(fd, blobs_[i].data, blobs_[i].size);
      at += blobs_[i].size;
      uint64_t next = i + 1 < blobs_.size() ? manifest.blobs[i + 1]->offset
                                            : manifestOffset;
      if (status.ok() && next > at)
        status = writeAll(fd, zeros, next - at);
      at = next;
    }
    if (status.ok())
      status = writeAll(fd, builder.GetBufferPointer(), builder.GetSize());
    return status;
  }));
  return fileSize;
}

//===----------------------------------------------------------------------===//
// Reading
//===----------------------------------------------------------------------===//

Artifact::~Artifact() {
  if (data_) {
    unguardMapping(data_);
    ::munmap(const_cast<uint8_t *>(data_), size_);
  }
}

const uint8_t *Artifact::blobData(uint32_t index) const {
  return data_ + manifest_->blobs[index]->offset;
}
uint64_t Artifact::blobSize(uint32_t index) const {
  return manifest_->blobs[index]->size;
}

absl::StatusOr<std::unique_ptr<Artifact>>
Artifact::open(const std::string &path) {
  auto error = [&](const std::string &what) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
  };
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0)
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return error("not a regular file");
  }
  std::unique_ptr<Artifact> a(new Artifact());
  a->path_ = path;
  a->size_ = st.st_size;
  if (a->size_ > 0) {
    void *map = ::mmap(nullptr, a->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      ::close(fd);
      return absl::ResourceExhaustedError(
          absl::StrCat(path, ": cannot map its ", a->size_,
                       " bytes: ", std::strerror(errno)));
    }
    a->data_ = static_cast<const uint8_t *>(map);
    guardMapping(map, a->size_, path);
  }
  ::close(fd);
  const uint8_t *d = a->data_;
  uint64_t size = a->size_;

  if (size < 8 || std::memcmp(d, kArtifactMagic, 8) != 0)
    return error("not a Kiln artifact (no KILNART magic at the start; "
                 "compile one with `kilnc MODEL_DIR -o OUT.kiln`)");
  if (size < kHeaderBytes)
    return error(absl::StrCat("truncated: ", size,
                              " bytes, shorter than the 64-byte header"));
  // The version comes before the header checksum: a newer format may lay
  // out (and check) the rest of its header differently.
  uint32_t version = get32(d + 8);
  if (version > kArtifactVersion)
    return error(absl::StrCat("format version ", version,
                              " is newer than this runtime reads (up to ",
                              kArtifactVersion,
                              "); use a kiln-run at least as new as the "
                              "kilnc that wrote it"));
  if (get64(d + 48) != checksum(d, kHeaderChecked))
    return error("damaged: the header checksum does not match");
  if (version == 0)
    return error("damaged: format version 0");
  if (version < kOldestArtifactVersion)
    return error(absl::StrCat(
        "format version ", version, " is older than this runtime reads (from ",
        kOldestArtifactVersion, "); compile it again with this kilnc"));
  uint64_t expected = get64(d + 40);
  if (expected != size)
    return error(absl::StrCat(expected > size ? "truncated" : "damaged",
                              ": the header records ", expected,
                              " bytes, the file has ", size));
  uint64_t manifestOffset = get64(d + 16), manifestSize = get64(d + 24);
  if (manifestOffset < kHeaderBytes || manifestOffset > size ||
      manifestSize > size - manifestOffset)
    return error("damaged: the manifest lies outside the file");
  const uint8_t *m = d + manifestOffset;
  if (checksum(m, manifestSize) != get64(d + 32))
    return error("damaged: the manifest checksum does not match");
  flatbuffers::Verifier verifier(m, manifestSize);
  if (!artifact::VerifyManifestBuffer(verifier) ||
      !alignedManifest(*artifact::GetManifest(m)))
    return error("damaged: the manifest is not a valid FlatBuffer");
  a->manifest_.reset(artifact::GetManifest(m)->UnPack());
  // A table field left out of a valid FlatBuffer unpacks to null; vectors
  // of tables cannot hold one, so Result.buffer is the field to check
  // (Manifest.model is checked where it is read).
  for (const auto &entry : a->manifest_->entries)
    for (const auto &r : entry->results)
      if (!r->buffer)
        return error(absl::StrCat("damaged: result ", r->name, " of ",
                                  entry->name, " has no buffer"));

  for (size_t i = 0; i < a->manifest_->blobs.size(); ++i) {
    const artifact::BlobT &blob = *a->manifest_->blobs[i];
    if (blob.offset < kHeaderBytes || blob.offset % kBlobAlignment != 0 ||
        blob.offset > manifestOffset ||
        blob.size > manifestOffset - blob.offset)
      return error(absl::StrCat("damaged: blob ", i, " (",
                                artifact::EnumNameBlobKind(blob.kind),
                                ") lies outside the blob area"));
    if (checksum(d + blob.offset, blob.size) != blob.checksum)
      return error(absl::StrCat(
          "damaged: blob ", i, " (", artifact::EnumNameBlobKind(blob.kind),
          ", bytes ", blob.offset, "..", blob.offset + blob.size,
          ") fails its checksum"));
  }
  int32_t tokenizer = a->manifest_->tokenizer;
  if (tokenizer != -1 &&
      (tokenizer < 0 ||
       static_cast<size_t>(tokenizer) >= a->manifest_->blobs.size() ||
       a->manifest_->blobs[tokenizer]->kind != artifact::BlobKind::Tokenizer))
    return error(absl::StrCat("damaged: the tokenizer is blob ", tokenizer,
                              ", which is not a tokenizer blob"));
  return a;
}

} // namespace kiln
