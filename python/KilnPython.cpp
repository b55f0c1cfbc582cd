//===- KilnPython.cpp - kiln._kiln: the Python extension over kiln/runtime.h
//===//
//
// pybind11 bindings of the C API (libkiln-runtime.so): a model loaded,
// run with the GIL released (so Python threads run requests at once, as
// the C API allows), outputs as numpy arrays over the result's own memory
// (no copy; the arrays keep the result alive), the token callback called
// back into Python, and errors raised as kiln.KilnError with the C API's
// message and status code. The Python API (python/kiln/__init__.py) is
// written over this module.
//
//===----------------------------------------------------------------------===//

#include "kiln/runtime.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace py = pybind11;

namespace {

/// kiln.KilnError, made at import.
PyObject *kilnError = nullptr;

/// A failed C API call, raised in Python as KilnError (with `.code`).
struct Failure {
  int code;
  std::string message;
};

void check(kiln_status status) {
  if (status != KILN_OK)
    throw Failure{static_cast<int>(status), kiln_last_error()};
}

using Ids = std::vector<std::vector<int64_t>>;

class Model {
public:
  Model(const std::string &path, const std::string &device, int threads,
        const std::optional<std::string> &weights) {
    kiln_load_options options;
    kiln_load_options_init(&options);
    options.device = device.c_str();
    options.threads = threads;
    options.weights_dir = weights ? weights->c_str() : nullptr;
    kiln_model *model = nullptr;
    kiln_status status;
    {
      py::gil_scoped_release release;
      status = kiln_model_load(path.c_str(), &options, &model);
    }
    check(status);
    model_.reset(model);
  }

  std::string family() const { return kiln_model_family(model_.get()); }
  int64_t vocabSize() const { return kiln_model_vocab_size(model_.get()); }
  bool isEncoder() const { return kiln_model_is_encoder(model_.get()) != 0; }
  bool hasTokenizer() const {
    return kiln_model_has_tokenizer(model_.get()) != 0;
  }

  std::vector<int64_t> encode(const std::string &text) const {
    int64_t *ids = nullptr;
    size_t count = 0;
    check(kiln_encode(model_.get(), text.data(), text.size(), &ids, &count));
    std::vector<int64_t> out(ids, ids + count);
    kiln_free(ids);
    return out;
  }

  py::tuple encodePair(const std::string &first,
                       const std::string &second) const {
    int64_t *ids = nullptr, *types = nullptr;
    size_t count = 0;
    check(kiln_encode_pair(model_.get(), first.data(), first.size(),
                           second.data(), second.size(), &ids, &types, &count));
    std::vector<int64_t> outIds(ids, ids + count),
        outTypes(types, types + count);
    kiln_free(ids);
    kiln_free(types);
    return py::make_tuple(outIds, outTypes);
  }

  py::str decode(const std::vector<int64_t> &ids) const {
    char *text = nullptr;
    check(kiln_decode(model_.get(), ids.data(), ids.size(), &text));
    std::string out(text);
    kiln_free(text);
    // The decoder replaces bytes that are not UTF-8 with U+FFFD, so this
    // always decodes.
    return py::str(out);
  }

  /// (outputs {name: ndarray}, generated token lists).
  py::tuple run(const Ids &ids, const std::optional<Ids> &types,
                int64_t maxNewTokens, bool ignoreEos, bool sample, int64_t topK,
                double topP, double temperature, uint64_t seed,
                py::object onTokens) {
    if (types && types->size() != ids.size())
      throw Failure{KILN_INVALID_ARGUMENT,
                    "token_type_ids: needs one sequence per input sequence"};
    std::vector<const int64_t *> idPointers, typePointers;
    std::vector<size_t> lengths;
    for (size_t b = 0; b < ids.size(); ++b) {
      idPointers.push_back(ids[b].data());
      lengths.push_back(ids[b].size());
      if (types) {
        if ((*types)[b].size() != ids[b].size())
          throw Failure{KILN_INVALID_ARGUMENT,
                        "token_type_ids: sequence " + std::to_string(b) +
                            " has " + std::to_string((*types)[b].size()) +
                            " ids, the input has " +
                            std::to_string(ids[b].size())};
        typePointers.push_back((*types)[b].data());
      }
    }
    kiln_request request;
    kiln_request_init(&request);
    request.batch = ids.size();
    request.input_ids = idPointers.data();
    request.lengths = lengths.data();
    request.token_type_ids = types ? typePointers.data() : nullptr;
    request.max_new_tokens = maxNewTokens;
    request.ignore_eos = ignoreEos ? 1 : 0;
    request.sample = sample ? 1 : 0;
    request.top_k = topK;
    request.top_p = topP;
    request.temperature = temperature;
    request.seed = seed;
    struct Callback {
      py::object function;
      std::optional<py::error_already_set> error;
    } callback{std::move(onTokens), std::nullopt};
    if (!callback.function.is_none()) {
      request.user_data = &callback;
      request.on_tokens = [](const int64_t *tokens, size_t batch,
                             void *userData) -> int {
        auto *c = static_cast<Callback *>(userData);
        py::gil_scoped_acquire acquire;
        try {
          std::vector<int64_t> gained(tokens, tokens + batch);
          return py::bool_(c->function(gained)) ? 1 : 0;
        } catch (py::error_already_set &e) {
          c->error = std::move(e); // raised once kiln_run returns
          return 0;
        }
      };
    }
    kiln_result *raw = nullptr;
    kiln_status status;
    {
      py::gil_scoped_release release;
      status = kiln_run(model_.get(), &request, &raw);
    }
    // The arrays share the result: freed when the last one goes.
    auto *holder = new std::shared_ptr<kiln_result>(raw, kiln_result_free);
    py::capsule owner(holder, [](void *p) {
      delete static_cast<std::shared_ptr<kiln_result> *>(p);
    });
    if (callback.error)
      throw std::move(*callback.error);
    check(status);
    py::dict outputs;
    for (size_t i = 0; i < kiln_result_output_count(raw); ++i) {
      const int64_t *shape = nullptr;
      size_t rank = 0;
      const float *data = kiln_result_output(raw, i, &shape, &rank);
      std::vector<py::ssize_t> dims(shape, shape + rank);
      py::array_t<float> array(dims, data, owner);
      // Read-only: the memory is the result's (np.array(x) copies it).
      array.attr("setflags")(py::arg("write") = false);
      outputs[kiln_result_output_name(raw, i)] = array;
    }
    py::list generated;
    for (size_t b = 0; b < ids.size(); ++b) {
      size_t count = 0;
      const int64_t *tokens = kiln_result_tokens(raw, b, &count);
      generated.append(std::vector<int64_t>(tokens, tokens + count));
    }
    return py::make_tuple(outputs, generated);
  }

private:
  struct Free {
    void operator()(kiln_model *m) const { kiln_model_free(m); }
  };
  std::unique_ptr<kiln_model, Free> model_;
};

} // namespace

PYBIND11_MODULE(_kiln, m) {
  m.doc() = "Kiln's runtime (kiln/runtime.h); use the kiln package's API";
  kilnError = PyErr_NewException("kiln.KilnError", PyExc_RuntimeError, nullptr);
  m.attr("KilnError") = py::handle(kilnError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p)
        std::rethrow_exception(p);
    } catch (const Failure &f) {
      py::object error = py::handle(kilnError)(f.message);
      error.attr("code") = f.code;
      PyErr_SetObject(kilnError, error.ptr());
    }
  });
  m.def("api_version", &kiln_runtime_api_version);
  m.attr("CANCELLED") = static_cast<int>(KILN_CANCELLED);
  py::class_<Model>(m, "Model")
      .def(py::init<const std::string &, const std::string &, int,
                    const std::optional<std::string> &>(),
           py::arg("path"), py::arg("device") = "cpu", py::arg("threads") = 0,
           py::arg("weights") = py::none())
      .def_property_readonly("family", &Model::family)
      .def_property_readonly("vocab_size", &Model::vocabSize)
      .def_property_readonly("is_encoder", &Model::isEncoder)
      .def_property_readonly("has_tokenizer", &Model::hasTokenizer)
      .def("encode", &Model::encode)
      .def("encode_pair", &Model::encodePair)
      .def("decode", &Model::decode)
      .def("run", &Model::run, py::arg("ids"), py::arg("types"),
           py::arg("max_new_tokens"), py::arg("ignore_eos"), py::arg("sample"),
           py::arg("top_k"), py::arg("top_p"), py::arg("temperature"),
           py::arg("seed"), py::arg("on_tokens"));
}
