// StsService: the part of AWS STS that clients use as a first check — GetCallerIdentity.
// Stateless; thread-safe.
#pragma once

#include "wire/service.h"

namespace gc::sts {

wire::ServiceDef MakeStsService();

}  // namespace gc::sts
