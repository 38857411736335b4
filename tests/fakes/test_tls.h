// A throwaway CA and a server certificate for localhost / 127.0.0.1, made
// with the openssl command at test time so no key is ever committed.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace fakes {

struct TestCertificates {
  std::filesystem::path folder;
  std::filesystem::path ca_cert;
  std::filesystem::path server_cert;
  std::filesystem::path server_key;
};

// Creates the files under `folder` (which must exist). Throws when openssl fails.
inline TestCertificates MakeTestCertificates(const std::filesystem::path& folder) {
  TestCertificates out{folder, folder / "ca.pem", folder / "server.pem", folder / "server.key"};
  const std::string f = folder.string();
  const std::string script =
      "set -e; cd '" + f +
      "'; "
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
      "-subj '/CN=jobsd test CA' >/dev/null 2>&1; "
      "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
      "-subj '/CN=localhost' >/dev/null 2>&1; "
      "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext; "
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
      "-out server.pem -days 2 -extfile san.ext >/dev/null 2>&1";
  const std::string command = "/bin/sh -c \"" + [&] {
    std::string escaped;
    for (char c : script) {
      if (c == '"' || c == '\\' || c == '$' || c == '`') escaped += '\\';
      escaped += c;
    }
    return escaped;
  }() + "\"";
  if (std::system(command.c_str()) != 0) {
    throw std::runtime_error("openssl could not make the test certificates in " + f);
  }
  return out;
}

}  // namespace fakes
