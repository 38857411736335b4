// Reads fields out of a parsed JSON document (an API answer) so that every
// problem is an Error naming where it is:
//   "results[3].period.datetimeTo.utc: expected a string, got null"
//   "results[0].id: missing"
//
// A Field is a value of the document and the path that led to it. Required
// members must be there and of the type asked for; Optional ones may be
// absent or null (nullopt) but, when there, must be of that type. Types:
// Field, std::string, std::string_view (pointing into the document),
// std::int64_t (integers only, no 1.5), double (any number), bool, and
// const boost::json::object* / const boost::json::array*.
//
// Any thread. A Field points into the document it came from and must not
// outlive it. Failure: kInvalidArgument, not retryable, with the path;
// a caller reading an upstream's answer re-wraps it in its own kind and
// context ("unexpected answer from OpenAQ: ...").
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "core/result.h"

namespace json {

// `text` as JSON; an error says where it is not ("not JSON (...)").
core::Result<boost::json::value> Parse(std::string_view text);

class Field {
 public:
  // The document's root; its path is empty.
  explicit Field(const boost::json::value& root) : value_(&root) {}
  Field(const boost::json::value& value, std::string path)
      : value_(&value), path_(std::move(path)) {}

  const boost::json::value& value() const { return *value_; }
  const std::string& path() const { return path_; }  // "results[3].period"
  bool is_null() const { return value_->is_null(); }

  // This value as T, or "<path>: expected <T>, got <kind>".
  template <typename T>
  core::Result<T> As() const;

  // The member `key` of this object as T. Absent (or this is no object):
  // an error for Required, nullopt for Optional; null counts as absent
  // for Optional.
  template <typename T = Field>
  core::Result<T> Required(std::string_view key) const;
  template <typename T = Field>
  core::Result<std::optional<T>> Optional(std::string_view key) const;

  // The elements of this array ("<path>[i]").
  core::Result<std::vector<Field>> Elements() const;

  // An error about this value, for a caller's own checks
  // ("<path>: not a valid time").
  core::Error Problem(std::string_view what) const;

 private:
  core::Result<std::optional<Field>> Member(std::string_view key) const;

  const boost::json::value* value_;
  std::string path_;
};

// What kind of value it is, as errors say it: "a string", "null", ...
std::string_view KindName(const boost::json::value& value);

// The types As<T> reads (json_fields.cpp).
template <>
core::Result<Field> Field::As<Field>() const;
template <>
core::Result<std::string_view> Field::As<std::string_view>() const;
template <>
core::Result<std::string> Field::As<std::string>() const;
template <>
core::Result<std::int64_t> Field::As<std::int64_t>() const;
template <>
core::Result<double> Field::As<double>() const;
template <>
core::Result<bool> Field::As<bool>() const;
template <>
core::Result<const boost::json::object*> Field::As<const boost::json::object*>() const;
template <>
core::Result<const boost::json::array*> Field::As<const boost::json::array*>() const;

template <typename T>
core::Result<T> Field::Required(std::string_view key) const {
  auto member = Member(key);
  if (!member) return core::Unexpected(member.error());
  if (!*member) {
    return core::Unexpected(
        Field(*value_, path_.empty() ? std::string(key) : path_ + "." + std::string(key))
            .Problem("missing"));
  }
  return (*member)->As<T>();
}

template <typename T>
core::Result<std::optional<T>> Field::Optional(std::string_view key) const {
  auto member = Member(key);
  if (!member) return core::Unexpected(member.error());
  if (!*member || (*member)->is_null()) return std::optional<T>();
  auto value = (*member)->As<T>();
  if (!value) return core::Unexpected(value.error());
  return std::optional<T>(std::move(*value));
}

}  // namespace json
