// Result<T>: the value of an operation that can fail in an expected way.
//
// Expected failures (a bad cron field, an HTTP 503, a missing file) travel as
// values; exceptions are reserved for bugs and exhausted resources. GCC 12 has
// no std::expected, so this is a small drop-in with the same spelling of the
// parts we use (has_value, value, error, operator*, operator->).
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace core {

enum class ErrorKind {
  kInvalidArgument,  // the input is wrong; retrying the same input cannot help
  kNotFound,
  kIo,
  kTimeout,
  kCancelled,
  kUpstream,  // a remote service answered with an error
  kInternal,
};

struct Error {
  ErrorKind kind = ErrorKind::kInternal;
  std::string message;  // says what failed and where, ready for a log line
  bool retryable = false;
};

inline Error InvalidArgument(std::string message) {
  return Error{ErrorKind::kInvalidArgument, std::move(message), false};
}

// Wraps an Error so that `return Unexpected(...)` converts into any Result<T>.
struct Unexpected {
  Error error;
  explicit Unexpected(Error e) : error(std::move(e)) {}
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value)
      : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Unexpected failure)                                 // NOLINT: implicit by design
      : state_(std::in_place_index<1>, std::move(failure.error)) {}

  bool has_value() const { return state_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    assert(has_value());
    return std::get<0>(state_);
  }
  const T& value() const& {
    assert(has_value());
    return std::get<0>(state_);
  }
  T&& value() && {
    assert(has_value());
    return std::get<0>(std::move(state_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const {
    assert(!has_value());
    return std::get<1>(state_);
  }

 private:
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Unexpected failure) : error_(std::move(failure.error)), failed_(true) {}  // NOLINT

  bool has_value() const { return !failed_; }
  explicit operator bool() const { return has_value(); }
  const Error& error() const {
    assert(failed_);
    return error_;
  }

 private:
  Error error_;
  bool failed_ = false;
};

}  // namespace core
