#include "json/json_fields.h"

#include <limits>

#include <boost/json/parse.hpp>

namespace json {

core::Result<boost::json::value> Parse(std::string_view text) {
  boost::json::error_code ec;
  boost::json::value root = boost::json::parse(text, ec);
  if (ec) return core::Unexpected(core::InvalidArgument("not JSON (" + ec.message() + ")"));
  return root;
}

std::string_view KindName(const boost::json::value& value) {
  switch (value.kind()) {
    case boost::json::kind::null:
      return "null";
    case boost::json::kind::bool_:
      return value.get_bool() ? "true" : "false";
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
      return "an integer";
    case boost::json::kind::double_:
      return "a number";
    case boost::json::kind::string:
      return "a string";
    case boost::json::kind::array:
      return "an array";
    case boost::json::kind::object:
      return "an object";
  }
  return "a value";
}

core::Error Field::Problem(std::string_view what) const {
  return core::InvalidArgument(path_.empty() ? std::string(what)
                                             : path_ + ": " + std::string(what));
}

namespace {

core::Unexpected Expected(const Field& field, std::string_view what) {
  return core::Unexpected(field.Problem("expected " + std::string(what) + ", got " +
                                        std::string(KindName(field.value()))));
}

}  // namespace

template <>
core::Result<Field> Field::As<Field>() const {
  return *this;
}

template <>
core::Result<std::string_view> Field::As<std::string_view>() const {
  if (!value_->is_string()) return Expected(*this, "a string");
  const auto& s = value_->get_string();
  return std::string_view(s.data(), s.size());
}

template <>
core::Result<std::string> Field::As<std::string>() const {
  auto view = As<std::string_view>();
  if (!view) return core::Unexpected(view.error());
  return std::string(*view);
}

template <>
core::Result<std::int64_t> Field::As<std::int64_t>() const {
  if (value_->is_int64()) return value_->get_int64();
  if (value_->is_uint64() &&
      value_->get_uint64() <= std::uint64_t(std::numeric_limits<std::int64_t>::max())) {
    return static_cast<std::int64_t>(value_->get_uint64());
  }
  return Expected(*this, value_->is_uint64() ? "an integer that fits 64 bits" : "an integer");
}

template <>
core::Result<double> Field::As<double>() const {
  if (value_->is_double()) return value_->get_double();
  if (value_->is_int64()) return static_cast<double>(value_->get_int64());
  if (value_->is_uint64()) return static_cast<double>(value_->get_uint64());
  return Expected(*this, "a number");
}

template <>
core::Result<bool> Field::As<bool>() const {
  if (!value_->is_bool()) return Expected(*this, "true or false");
  return value_->get_bool();
}

template <>
core::Result<const boost::json::object*> Field::As<const boost::json::object*>() const {
  if (!value_->is_object()) return Expected(*this, "an object");
  return &value_->get_object();
}

template <>
core::Result<const boost::json::array*> Field::As<const boost::json::array*>() const {
  if (!value_->is_array()) return Expected(*this, "an array");
  return &value_->get_array();
}

core::Result<std::optional<Field>> Field::Member(std::string_view key) const {
  if (!value_->is_object()) return Expected(*this, "an object");
  const auto& object = value_->get_object();
  const auto it = object.find(key);
  if (it == object.end()) return std::optional<Field>();
  return std::optional<Field>(
      Field(it->value(), path_.empty() ? std::string(key) : path_ + "." + std::string(key)));
}

core::Result<std::vector<Field>> Field::Elements() const {
  if (!value_->is_array()) return Expected(*this, "an array");
  std::vector<Field> out;
  const auto& array = value_->get_array();
  out.reserve(array.size());
  for (std::size_t i = 0; i < array.size(); ++i) {
    out.emplace_back(array[i], path_ + "[" + std::to_string(i) + "]");
  }
  return out;
}

}  // namespace json
