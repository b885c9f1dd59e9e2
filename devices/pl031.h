/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_PL031_H
#define TERN_PL031_H

#include <stdint.h>

#include "device.h"

/*
 * An ARM PrimeCell PL031 real-time clock ("arm,pl031"): a 32-bit seconds
 * counter that follows the host's CLOCK_REALTIME plus an offset the guest
 * sets through the load register. EDK2's ArmVirtQemu needs it: its
 * RealTimeClockRuntimeDxe (PL031RealTimeClockLib) is an architectural
 * protocol the DXE core waits for. The match interrupt is not implemented
 * (RIS never sets); the firmware masks it and hides the RTC from the OS.
 */
struct device *pl031_create(uint64_t base, unsigned int spi);

#endif
