//===- Error.h - the one exception type kiln's C++ API throws -------------===//
#ifndef KILN_ERROR_H
#define KILN_ERROR_H

#include <stdexcept>
#include <string>

namespace kiln {

/// What went wrong and where: `what()` reads `layer 'dense_1': <message>` (or just the message
/// when no layer is involved). Every bad argument, shape mismatch or malformed input the API sees
/// becomes one of these; nothing aborts.
class Error : public std::runtime_error {
public:
  Error(std::string layer, std::string message)
      : std::runtime_error(layer.empty() ? message : "layer '" + layer + "': " + message),
        layer_(std::move(layer)), message_(std::move(message)) {}

  /// The Keras layer (or model) the error is about; empty when none.
  const std::string &layer() const { return layer_; }
  /// The message without the layer prefix.
  const std::string &message() const { return message_; }

private:
  std::string layer_, message_;
};

} // namespace kiln

#endif // KILN_ERROR_H
