// Run an ExecuTorch program on a file of inputs without Python or libtorch.
//
// Usage: edgepipe-pte-runner MODEL.pte INPUTS.bin OUTPUTS.bin
//
// INPUTS.bin contains consecutive input tensors of method "forward" input 0, in the dtype and shape the
// program declares, so its size must be a multiple of one tensor's bytes. Each tensor runs once, and
// output 0 is appended to OUTPUTS.bin as float32. The program is linked against the shared libraries
// of the executorch wheel, so the XNNPACK delegate and the kernels are the ones Python would use.

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include <executorch/extension/module/module.h>
#include <executorch/extension/tensor/tensor.h>

using executorch::aten::ScalarType;
using executorch::extension::Module;
using executorch::extension::from_blob;
using executorch::runtime::Error;

namespace {

int fail(const char* message, int code = 1) {
  std::fprintf(stderr, "edgepipe-pte-runner: %s\n", message);
  return code;
}

size_t element_size(ScalarType type) {
  switch (type) {
    case ScalarType::Float: return 4;
    case ScalarType::Char: return 1;
    case ScalarType::Byte: return 1;
    default: return 0;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    return fail("usage: edgepipe-pte-runner MODEL.pte INPUTS.bin OUTPUTS.bin", 2);
  }

  Module module(argv[1], Module::LoadMode::Mmap);
  if (module.load_method("forward") != Error::Ok) {
    return fail("cannot load method forward from the program");
  }
  auto meta = module.method_meta("forward");
  auto input_meta = meta->input_tensor_meta(0);
  if (!meta.ok() || !input_meta.ok()) {
    return fail("the program's forward method has no tensor input 0");
  }

  // Input shape and dtype come from the program, so the runner needs no manifest of its own.
  ScalarType input_type = input_meta->scalar_type();
  std::vector<executorch::aten::SizesType> sizes(input_meta->sizes().begin(), input_meta->sizes().end());
  size_t input_numel = 1;
  for (auto size : sizes) {
    input_numel *= size;
  }
  size_t input_bytes = input_numel * element_size(input_type);
  if (input_bytes == 0) {
    return fail("input 0 has an unsupported dtype; float32, int8 and uint8 are supported");
  }

  std::ifstream input_file(argv[2], std::ios::binary);
  std::vector<char> inputs((std::istreambuf_iterator<char>(input_file)), std::istreambuf_iterator<char>());
  if (!input_file.good() && !input_file.eof()) {
    return fail("cannot read the inputs file");
  }
  if (inputs.size() % input_bytes != 0) {
    return fail("the inputs file size is not a multiple of one input tensor");
  }

  std::FILE* output_file = std::fopen(argv[3], "wb");
  if (output_file == nullptr) {
    return fail("cannot open the outputs file for writing");
  }
  std::vector<char> buffer(input_bytes);
  for (size_t offset = 0; offset < inputs.size(); offset += input_bytes) {
    // from_blob does not copy, and the program may write into its input, so each run gets a fresh copy.
    std::memcpy(buffer.data(), inputs.data() + offset, input_bytes);
    auto tensor = from_blob(buffer.data(), sizes, input_type);
    auto result = module.forward(tensor);
    if (!result.ok()) {
      std::fclose(output_file);
      return fail("forward failed");
    }
    const auto& output = result->at(0).toTensor();
    if (output.scalar_type() != ScalarType::Float) {
      std::fclose(output_file);
      return fail("output 0 is not float32");
    }
    std::fwrite(output.const_data_ptr<float>(), sizeof(float), output.numel(), output_file);
  }
  std::fclose(output_file);
  return 0;
}
