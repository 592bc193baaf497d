// Every test file: the temporary directories it made go away after it, pass or fail.
import { afterAll } from 'vitest';
import { removeTmpdirs } from './helpers.js';

afterAll(removeTmpdirs);
