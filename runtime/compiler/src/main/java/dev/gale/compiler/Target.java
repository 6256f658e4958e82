package dev.gale.compiler;

/** The two C dialects Gale emits, and what differs between them. */
enum Target {
    OPENCL("cl"), CUDA("cu");

    final String extension;

    Target(String extension) {
        this.extension = extension;
    }

    String intType() {
        return "int";
    }

    String longType() {
        return this == OPENCL ? "long" : "long long";
    }

    String uintType() {
        return this == OPENCL ? "uint" : "unsigned int";
    }

    String ulongType() {
        return this == OPENCL ? "ulong" : "unsigned long long";
    }

    String longSuffix() {
        return this == OPENCL ? "L" : "LL";
    }

    String ulongSuffix() {
        return this == OPENCL ? "UL" : "ULL";
    }

    /** Qualifiers in front of a helper or device function. */
    String functionPrefix() {
        return this == OPENCL ? "static inline " : "__device__ static inline ";
    }

    /** A kernel-side grid query; {@code dim} is 0, 1 or 2. */
    String gridQuery(String method, int dim) {
        if (this == OPENCL) {
            String fn = switch (method) {
                case "globalId" -> "get_global_id";
                case "localId" -> "get_local_id";
                case "groupId" -> "get_group_id";
                case "globalSize" -> "get_global_size";
                case "localSize" -> "get_local_size";
                case "numGroups" -> "get_num_groups";
                default -> throw new IllegalArgumentException(method);
            };
            return "((int)" + fn + "(" + dim + "))";
        }
        String c = "xyz".substring(dim, dim + 1);
        return switch (method) {
            case "globalId" -> "((int)(blockIdx." + c + " * blockDim." + c + " + threadIdx." + c + "))";
            case "localId" -> "((int)threadIdx." + c + ")";
            case "groupId" -> "((int)blockIdx." + c + ")";
            case "globalSize" -> "((int)(gridDim." + c + " * blockDim." + c + "))";
            case "localSize" -> "((int)blockDim." + c + ")";
            case "numGroups" -> "((int)gridDim." + c + ")";
            default -> throw new IllegalArgumentException(method);
        };
    }

    String barrier(boolean global) {
        if (this == CUDA) {
            return "__syncthreads()";
        }
        return global ? "barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE)" : "barrier(CLK_LOCAL_MEM_FENCE)";
    }

    /** Float math built-in for a KMath function name (float overloads). */
    String mathFunction(String name) {
        String base = switch (name) {
            case "min" -> "fmin";
            case "max" -> "fmax";
            case "abs" -> "fabs";
            default -> name;
        };
        return this == OPENCL ? base : base + "f";
    }
}
