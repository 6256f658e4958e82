package dev.gale.core.device;

public enum DeviceType {
    CPU, GPU, ACCELERATOR
}
