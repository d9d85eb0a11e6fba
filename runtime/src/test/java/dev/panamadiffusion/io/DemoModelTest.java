package dev.panamadiffusion.io;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Where {@link DemoModel#locate} looks: {@code -Dpd.demo.model} first, then {@code <pd.home>/models/pdiff-demo}; a
 * folder without {@code model_index.json} is refused saying where it looked. (The build sets {@code pd.home}.)
 */
class DemoModelTest {
    private final String saved = System.getProperty(DemoModel.MODEL_PROPERTY);

    @AfterEach
    void restore() {
        if (saved == null) System.clearProperty(DemoModel.MODEL_PROPERTY);
        else System.setProperty(DemoModel.MODEL_PROPERTY, saved);
    }

    @Test
    void theCheckoutsDemoModelByDefault() {
        System.clearProperty(DemoModel.MODEL_PROPERTY);
        Path home = Path.of(System.getProperty(DemoModel.HOME_PROPERTY));
        assertEquals(home.resolve(DemoModel.RELATIVE_PATH), DemoModel.locate());
    }

    @Test
    void theModelPropertyNamesTheFolderItself(@TempDir Path tmp) throws IOException {
        Files.writeString(tmp.resolve(ModelFolder.INDEX), "{\"_class_name\": \"StableDiffusionPipeline\"}");
        System.setProperty(DemoModel.MODEL_PROPERTY, tmp.toString());
        assertEquals(tmp, DemoModel.locate());
    }

    @Test
    void aFolderWithoutAnIndexIsRefusedSayingWhereItLooked(@TempDir Path tmp) {
        System.setProperty(DemoModel.MODEL_PROPERTY, tmp.toString());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, DemoModel::locate);
        assertTrue(e.getMessage().startsWith("no model folder given, and the demo model is not at " + tmp.toAbsolutePath().normalize()),
                e.getMessage());
    }
}
