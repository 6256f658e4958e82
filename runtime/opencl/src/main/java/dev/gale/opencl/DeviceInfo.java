package dev.gale.opencl;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/** Platform and device discovery and info queries. */
final class DeviceInfo {
    static final int PLATFORM_VERSION = 0x0901;
    static final int PLATFORM_NAME = 0x0902;
    static final int DEVICE_TYPE = 0x1000;
    static final int DEVICE_MAX_COMPUTE_UNITS = 0x1002;
    static final int DEVICE_MAX_WORK_GROUP_SIZE = 0x1004;
    static final int DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT = 0x100A;
    static final int DEVICE_MAX_CLOCK_FREQUENCY = 0x100C;
    static final int DEVICE_MAX_MEM_ALLOC_SIZE = 0x1010;
    static final int DEVICE_SINGLE_FP_CONFIG = 0x101B;
    static final long FP_CORRECTLY_ROUNDED_DIVIDE_SQRT = 1 << 7;
    static final int DEVICE_MEM_BASE_ADDR_ALIGN = 0x1019;
    static final int DEVICE_GLOBAL_MEM_SIZE = 0x101F;
    static final int DEVICE_LOCAL_MEM_SIZE = 0x1023;
    static final int DEVICE_HOST_UNIFIED_MEMORY = 0x1035;
    static final int DEVICE_NAME = 0x102B;
    static final int DEVICE_VENDOR = 0x102C;
    static final int DRIVER_VERSION = 0x102D;
    static final int DEVICE_VERSION = 0x102F;
    static final int DEVICE_EXTENSIONS = 0x1030;
    static final int DEVICE_OPENCL_C_VERSION = 0x103D;
    static final long DEVICE_TYPE_ALL = 0xFFFFFFFFL;
    static final int CL_DEVICE_NOT_FOUND = -1;
    static final int CL_PLATFORM_NOT_FOUND_KHR = -1001;

    private DeviceInfo() {
    }

    static List<MemorySegment> platforms() {
        ClNative n = ClNative.get();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment count = a.allocate(ValueLayout.JAVA_INT);
            int rc = (int) n.getPlatformIDs.invokeExact(0, MemorySegment.NULL, count);
            if (rc == CL_PLATFORM_NOT_FOUND_KHR) {
                return List.of();
            }
            ClNative.check("clGetPlatformIDs", rc);
            int k = count.get(ValueLayout.JAVA_INT, 0);
            if (k == 0) {
                return List.of();
            }
            MemorySegment ids = a.allocate(ValueLayout.ADDRESS, k);
            ClNative.check("clGetPlatformIDs", (int) n.getPlatformIDs.invokeExact(k, ids, MemorySegment.NULL));
            List<MemorySegment> out = new ArrayList<>();
            for (int i = 0; i < k; i++) {
                out.add(ids.getAtIndex(ValueLayout.ADDRESS, i));
            }
            return out;
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw new OpenClException("clGetPlatformIDs failed: " + t);
        }
    }

    static List<MemorySegment> devices(MemorySegment platform) {
        ClNative n = ClNative.get();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment count = a.allocate(ValueLayout.JAVA_INT);
            int rc = (int) n.getDeviceIDs.invokeExact(platform, DEVICE_TYPE_ALL, 0, MemorySegment.NULL, count);
            if (rc == CL_DEVICE_NOT_FOUND) {
                return List.of();
            }
            ClNative.check("clGetDeviceIDs", rc);
            int k = count.get(ValueLayout.JAVA_INT, 0);
            MemorySegment ids = a.allocate(ValueLayout.ADDRESS, Math.max(1, k));
            ClNative.check("clGetDeviceIDs",
                    (int) n.getDeviceIDs.invokeExact(platform, DEVICE_TYPE_ALL, k, ids, MemorySegment.NULL));
            List<MemorySegment> out = new ArrayList<>();
            for (int i = 0; i < k; i++) {
                out.add(ids.getAtIndex(ValueLayout.ADDRESS, i));
            }
            return out;
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw new OpenClException("clGetDeviceIDs failed: " + t);
        }
    }

    static String platformString(MemorySegment platform, int param) {
        return string(true, platform, param);
    }

    static String deviceString(MemorySegment device, int param) {
        return string(false, device, param);
    }

    static long deviceLong(MemorySegment device, int param) {
        return scalar(device, param, 8);
    }

    static int deviceInt(MemorySegment device, int param) {
        return (int) scalar(device, param, 4);
    }

    private static long scalar(MemorySegment device, int param, int size) {
        ClNative n = ClNative.get();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(8);
            ClNative.check("clGetDeviceInfo(0x" + Integer.toHexString(param) + ")",
                    (int) n.getDeviceInfo.invokeExact(device, param, (long) size, v, MemorySegment.NULL));
            return size == 8 ? v.get(ValueLayout.JAVA_LONG, 0) : Integer.toUnsignedLong(v.get(ValueLayout.JAVA_INT, 0));
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw new OpenClException("clGetDeviceInfo failed: " + t);
        }
    }

    private static String string(boolean platform, MemorySegment handle, int param) {
        ClNative n = ClNative.get();
        String call = platform ? "clGetPlatformInfo" : "clGetDeviceInfo";
        MethodHandleCall h = platform
                ? (size, v, ret) -> (int) n.getPlatformInfo.invokeExact(handle, param, size, v, ret)
                : (size, v, ret) -> (int) n.getDeviceInfo.invokeExact(handle, param, size, v, ret);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment len = a.allocate(ValueLayout.JAVA_LONG);
            ClNative.check(call, h.call(0L, MemorySegment.NULL, len));
            long size = len.get(ValueLayout.JAVA_LONG, 0);
            MemorySegment v = a.allocate(Math.max(1, size));
            ClNative.check(call, h.call(size, v, MemorySegment.NULL));
            return v.getString(0).trim();
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw new OpenClException(call + " failed: " + t);
        }
    }

    @FunctionalInterface
    private interface MethodHandleCall {
        int call(long size, MemorySegment value, MemorySegment ret) throws Throwable;
    }
}
