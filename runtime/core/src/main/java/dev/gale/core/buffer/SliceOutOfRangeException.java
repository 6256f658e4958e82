package dev.gale.core.buffer;

import dev.gale.core.GaleException;

/** A slice, view or element index falls outside its buffer. */
public class SliceOutOfRangeException extends GaleException {
    public SliceOutOfRangeException(String message) {
        super(message);
    }
}
