//===- Collectives.h - the transports of collective steps -----------------===//
//
// kilnc --tp compiles collective steps (all_reduce, all_gather) into every
// rank's step list; the runtime picks how they move data (DESIGN.md §3.1).
// A Communicator is one rank's end of its tensor-parallel group:
//   - LocalGroup: ranks that are threads of one process (kiln-run --ranks
//     N), through shared memory;
//   - MPI (runtime/MpiCollectives.h): ranks that are processes (mpirun).
// Every collective has a deadline: a rank that does not arrive in time, or
// one that failed, ends the collective on every rank with an error naming
// the rank and the step, never a hang.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_COLLECTIVES_H
#define KILN_RUNTIME_COLLECTIVES_H

#include "artifact/Artifact.h"

#include "absl/status/status.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kiln::rt {

/// What a collective on device buffers needs from a rank's executor, for
/// ranks that share one GPU in one process (their buffers lie in one
/// context, so each rank reads the others' directly). Each call is
/// complete on the device when it returns.
class DeviceCollectiveOps {
public:
  virtual ~DeviceCollectiveOps() = default;
  /// out[0, end - begin) = elements [begin, end) of the collective's result
  /// from the ranks' operands `inputs` (rank order): their sum
  /// (cols == 0), or their [rows, cols] side by side (cols > 0).
  virtual absl::Status share(float *out,
                             const std::vector<const float *> &inputs,
                             int64_t begin, int64_t end, int64_t cols) = 0;
  /// Copies `bytes` between two device buffers.
  virtual absl::Status copy(void *to, const void *from, int64_t bytes) = 0;
  /// A device buffer of this rank's of at least `bytes`, kept between
  /// collectives (the other ranks read it until the collective ends).
  virtual absl::StatusOr<float *> shareBuffer(int64_t bytes) = 0;
  /// A device buffer of `bytes` that outlives the call (a value sent to
  /// another stage), and its release (by whichever rank received it).
  virtual absl::StatusOr<void *> allocate(int64_t bytes) = 0;
  virtual void release(void *buffer) = 0;
};

class Communicator {
public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// `data` (count floats) becomes the sum over the ranks, added in rank
  /// order, so every rank holds the same bits. `where` names the step in
  /// errors.
  virtual absl::Status allReduce(float *data, int64_t count,
                                 const std::string &where) = 0;
  /// `out` [rows, size() * cols] gets each rank's `in` [rows, cols] at
  /// columns [rank * cols, (rank + 1) * cols).
  virtual absl::Status allGather(const float *in, float *out, int64_t rows,
                                 int64_t cols, const std::string &where) = 0;
  /// Whether the ranks are threads of one process, whose device buffers
  /// the *OnDevice collectives can exchange (the group's ranks on one GPU).
  virtual bool sharesMemory() const { return false; }
  /// allReduce from device buffer `in` into `out` (may be `in`) and
  /// allGather of device buffers, the data moved by `ops` (kernels and
  /// device-to-device copies): each rank sums or gathers its share of the
  /// result from every rank's operand into its own buffer, then copies
  /// every rank's share. The same bits as allReduce and allGather.
  /// Unimplemented unless sharesMemory().
  virtual absl::Status allReduceOnDevice(DeviceCollectiveOps &ops,
                                         const float *in, float *out,
                                         int64_t count,
                                         const std::string &where);
  virtual absl::Status allGatherOnDevice(DeviceCollectiveOps &ops,
                                         const float *in, float *out,
                                         int64_t rows, int64_t cols,
                                         const std::string &where);
  /// Ends every collective in flight or to come on the other ranks with
  /// an error saying this rank failed and why.
  virtual void abort(const std::string &why) = 0;
  /// The bytes this rank has put into collectives so far (its operands).
  int64_t bytesMoved() const { return movedBytes; }

protected:
  int64_t movedBytes = 0;
};

/// One rank's end of its pipeline (kilnc --pp): the ranks of the other
/// stages with its replica and tensor-parallel rank. Values go forward
/// only, so a send never waits for its receiver; a receive waits for the
/// next value its sender sent, within the deadline.
class StageLink {
public:
  virtual ~StageLink() = default;
  virtual int stage() const = 0;
  virtual int stages() const = 0;
  /// Hands `bytes` bytes at `data` to stage `to` (copied before it
  /// returns).
  virtual absl::Status send(int to, const void *data, int64_t bytes,
                            const std::string &where) = 0;
  /// Copies the next value stage `from` sent this rank to `data`, which
  /// holds `bytes` (a value of another size is an error).
  virtual absl::Status recv(int from, void *data, int64_t bytes,
                            const std::string &where) = 0;
  /// Whether the stages are threads of one process, which the *OnDevice
  /// calls need (the pipeline's stages on one GPU).
  virtual bool sharesMemory() const { return false; }
  /// send and recv of device buffers through `ops`: the sender copies the
  /// value into a device buffer of its own (ops.allocate) and queues it,
  /// the receiver copies it out and releases it. Unimplemented unless
  /// sharesMemory(). A value queued but never received (an aborted run)
  /// keeps its buffer until the device context ends.
  virtual absl::Status sendOnDevice(DeviceCollectiveOps &ops, int to,
                                    const void *data, int64_t bytes,
                                    const std::string &where);
  virtual absl::Status recvOnDevice(DeviceCollectiveOps &ops, int from,
                                    void *data, int64_t bytes,
                                    const std::string &where);
  /// Ends every receive in flight or to come on the other stages with an
  /// error saying this stage failed and why.
  virtual void abort(const std::string &why) = 0;
  /// The bytes this stage has sent so far.
  int64_t bytesSent() const { return sentBytes; }

protected:
  int64_t sentBytes = 0;
};

/// The stages of one pipeline as threads of one process: a mailbox per
/// pair of stages.
class LocalPipeline {
public:
  LocalPipeline(int stages, double timeoutSeconds);
  ~LocalPipeline();
  /// Stage `stage`'s end (the pipeline must outlive it).
  std::unique_ptr<StageLink> member(int stage);

  struct State;

private:
  std::unique_ptr<State> state_;
};

/// A collective step (all_reduce, all_gather, send_recv) on host buffers,
/// for every executor: `in` of `inDims` and `out` of `outDims` (the step's
/// operand and result; the CUDA executor passes host copies). A
/// send_recv's sender (this rank's `stage` is the step's) sends `in`, its
/// receiver fills `out`. A missing transport is an error saying to run
/// the ranks together; `where` names the step.
absl::Status runCollectiveStep(const artifact::StepT &step, int64_t stage,
                               Communicator *communicator, StageLink *link,
                               const void *in, void *out,
                               const std::vector<int64_t> &inDims,
                               const std::vector<int64_t> &outDims,
                               const std::string &where);

/// Whether this rank (at `stage`) sends a send_recv step's value.
inline bool sendsValue(const artifact::StepT &step, int64_t stage) {
  return step.stages >> stage & 1;
}

/// The stage that sends a send_recv step's value (step.stages non-zero).
inline int senderStage(const artifact::StepT &step) {
  return __builtin_ctzll(step.stages);
}

/// Ranks that are threads of one process. Each collective is three
/// barriers: every rank publishes its buffer; each rank sums (or copies)
/// its share of the elements into a shared result; each rank copies the
/// result into its own buffer.
class LocalGroup {
public:
  LocalGroup(int ranks, double timeoutSeconds);
  ~LocalGroup();
  /// Rank `rank`'s end of the group (the group must outlive it).
  std::unique_ptr<Communicator> member(int rank);
  int size() const { return ranks_; }

  struct State;

private:
  int ranks_;
  std::unique_ptr<State> state_;
};

} // namespace kiln::rt

#endif // KILN_RUNTIME_COLLECTIVES_H
